"""Tests of the load generators client.go and client.py."""
