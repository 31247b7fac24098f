"""Electron safeStorage: the OSCrypt codecs (oscrypt) and the machine secret from each OS backend (backends)."""
