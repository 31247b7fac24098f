"""Checking what is stored: key shapes, the files around the database, audit findings, doctor's diagnoses."""
