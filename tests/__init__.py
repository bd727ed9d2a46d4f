"""Test suite of falmigrate (a package so tests can share helpers: ``tests.helpers``)."""
