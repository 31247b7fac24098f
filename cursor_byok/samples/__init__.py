"""Sample Cursor installs with made-up keys (installs), and the demo that moves keys between two of them."""
