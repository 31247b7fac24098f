"""Rescue: Cursor's keys from an old machine's disk or backup, with its secret store opened offline."""
