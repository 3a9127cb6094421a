"""The only package that runs git or imports pygit2 / GitPython."""
