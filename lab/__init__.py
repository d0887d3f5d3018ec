"""The test lab: a real Asterisk and sipp from a Debian sid root filesystem, in network namespaces.

Used by the tests, the benchmarks and the README's run command. Not part of the shipped package.
"""
