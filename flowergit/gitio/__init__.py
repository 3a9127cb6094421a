"""The door to git: the only package that runs git (gitio/runner.py) or reads a repository with
libgit2 (gitio/libgit.py). Every other layer calls the named operations of its modules."""
