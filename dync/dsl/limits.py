"""Bounds on what the front end reads (specs are data from anywhere).

Every bound here is a located error when a spec goes past it, never a numpy
or JAX failure: the checker reasons about sizes with Python integers and
refuses what it cannot hold before allocating anything (docs/language.md,
"Limits").
"""

#: the largest spec file read, in bytes (1 MiB)
MAX_SPEC_BYTES = 1 << 20

#: the most tokens (names, numbers, symbols; comments not counted) in one
#: spec: reading, checking and generating code take some 30 to 60
#: microseconds a token, so this keeps any spec within a second or two
#: (2**15 = 32,768; the specs of specs/ have at most 2,000)
MAX_TOKENS = 1 << 15

#: the most axes an array may have (numpy and XLA handle up to 32 in all of
#: their operations); array literals nest at most this deep
MAX_RANK = 32

#: the largest size: a ``dim``, a size in a declared shape, the number of
#: numbers in any declared shape, a network's width or depth (2**40, about
#: 1.1e12: 8 TiB of float64, beyond any device; the run-time preflight
#: refuses what does not fit the device in hand)
MAX_SIZE = 1 << 40

#: the most numbers in one constant array the compiler evaluates (an initial
#: value, ``eye(K)``, ``zeros(...)``, a parameter's value): constants are
#: written into the compiled model, so they stay small (2**18 = 262,144
#: numbers, a 512 x 512 matrix, 2 MiB)
MAX_CONSTANT_ELEMENTS = 1 << 18

#: the most numbers in a constant array of one repeated value (``zeros``,
#: ``ones``, a parameter's scalar value filling its shape): it is written
#: into the compiled model as one number and a shape, so it may be larger
#: (2**24 = 16,777,216 numbers, 128 MiB while the compiler holds it)
MAX_FILLED_ELEMENTS = 1 << 24

#: the most numbers in all the constant arrays of one spec together, not
#: counting the filled ones (2**20)
MAX_CONSTANT_TOTAL = 1 << 20

#: the most arithmetic the compiler does evaluating one spec's constants,
#: counted in numbers produced (plus multiply-adds of ``@``); about a second
MAX_CONSTANT_WORK = 1 << 27
