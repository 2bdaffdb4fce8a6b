"""The inference engine: llama.cpp in a child process, and the client that drives it."""
