"""Every example in the package's docstrings runs as written: the doctests of every module (``segment_features``'
had drifted from the code for a stop, and three others named what they had not imported, before the suite ran them).
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import vaearr

#: every module of the package (``__main__`` would run the command line on import)
MODULES = sorted(m.name for m in pkgutil.walk_packages(vaearr.__path__, "vaearr.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_each_module_run(name: str) -> None:
    module = importlib.import_module(name)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)  # pytest's --doctest-modules default
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


def test_the_check_sees_a_failing_example() -> None:
    """The runner above fails on an example whose output is not what it says."""
    test = doctest.DocTestParser().get_doctest(">>> 1 + 1\n3\n", {}, "probe", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=io.StringIO().write)
    assert runner.failures == 1
    assert len(MODULES) > 100 and "vaearr.maps.segmentation.regions" in MODULES
