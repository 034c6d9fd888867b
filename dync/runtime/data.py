"""Observation data for fitting: independent series with irregular times and
missing values, as records the likelihoods read.

LANGUAGE.md §11 fixes the file formats; the readers that build these records
from NetCDF and CSV files (with located errors for bad data) live beside them
in this module. The likelihoods (exact Kalman, particle filter) read the
padded, JAX-ready form :class:`PaddedData`, so every series of a data set runs
in one compiled, vmapped computation.

Conventions
-----------
* Times are float64, finite and strictly increasing within a series.
* ``values[name]`` has shape ``(T,) + shape`` of the ``observe`` line; NaN
  marks a missing value (a whole time point or single components).
* Inputs are read by name and interpolated linearly in time, as
  :class:`dync.runtime.inputs.LinearInput` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

__all__ = ["ObservationData", "PaddedData", "Series"]


@dataclasses.dataclass(frozen=True)
class Series:
    """One independent series (trial): its times and what was observed.

    Attributes:
        times: ``(T,)`` float64 observation times, strictly increasing.
        values: observation name → ``(T,) + shape`` float64 array, NaN where
            missing.
        inputs: input name → ``(times, values)`` of that series' covariate,
            ``values`` of shape ``(K,) + shape``.
        name: the series' label in the data file (its index or coordinate).
    """

    times: np.ndarray
    values: Mapping[str, np.ndarray]
    inputs: Mapping[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    name: str = ""

    @property
    def length(self) -> int:
        """The number of observation times."""
        return int(self.times.shape[0])


@dataclasses.dataclass(frozen=True)
class PaddedData:
    """Every series padded to the longest, as arrays a likelihood can vmap over.

    Attributes:
        times: ``(S, T)`` times; a padded slot repeats the series' last time.
        values: name → ``(S, T) + shape`` values; NaN where missing or padded.
        present: ``(S, T)`` bool, False in padded slots.
        lengths: ``(S,)`` int, the real length of each series.
    """

    times: np.ndarray
    values: Mapping[str, np.ndarray]
    present: np.ndarray
    lengths: np.ndarray

    @property
    def num_series(self) -> int:
        """The number of series ``S``."""
        return int(self.times.shape[0])


@dataclasses.dataclass(frozen=True)
class ObservationData:
    """A data set for fitting: one or more independent series.

    Attributes:
        series: the series, in file order.
        source: where the data came from (a path, or ``"<Dataset>"``), for
            messages.
    """

    series: tuple[Series, ...]
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The observation names present in the data."""
        return tuple(self.series[0].values) if self.series else ()

    def padded(self) -> PaddedData:
        """All series padded to the longest (see :class:`PaddedData`)."""
        lengths = np.array([s.length for s in self.series], dtype=np.int64)
        longest = int(lengths.max()) if lengths.size else 0
        times = np.empty((len(self.series), longest), np.float64)
        present = np.zeros((len(self.series), longest), bool)
        values: dict[str, np.ndarray] = {}
        for i, s in enumerate(self.series):
            n = s.length
            times[i, :n] = s.times
            times[i, n:] = s.times[-1] if n else 0.0
            present[i, :n] = True
            for name, v in s.values.items():
                if name not in values:
                    values[name] = np.full((len(self.series), longest) + v.shape[1:], np.nan, np.float64)
                values[name][i, :n] = v
        return PaddedData(times, values, present, lengths)
