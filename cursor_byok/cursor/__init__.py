"""What Cursor keeps on disk: where it is (paths), the database (store), its rows (rows, blob_patch),
the version that wrote it (versions) and the base URLs it calls (urls)."""
