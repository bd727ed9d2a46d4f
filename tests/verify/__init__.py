"""Tests of falmigrate verify (a package: the fake runner is imported as tests.verify.fake_runner)."""
