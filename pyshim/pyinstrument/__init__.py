"""pyinstrument: a call-stack profiler for Python.

    from pyinstrument import Profiler
    profiler = Profiler()          # or Profiler(use_signal=False)
    profiler.start()
    ...                            # code you want to profile
    profiler.stop()
    print(profiler.output_text(unicode=True, color=True))

    @pyinstrument.profile()        # or: with pyinstrument.profile():
    def main(): ...                # a report on stderr after each call

In IPython or Jupyter: `%load_ext pyinstrument`, then `%pyinstrument
statement` or `%%pyinstrument` above a cell (see pyinstrument.magic).
"""
from pyinstrument.profiler import Profiler, profile

__version__ = '0.1.0'
__all__ = ['Profiler', 'profile']


def load_ipython_extension(ipython):
    """`%load_ext pyinstrument`: the %pyinstrument and %%pyinstrument magics
    (IPython is imported only now)."""
    from pyinstrument.magic import load_ipython_extension as load
    load(ipython)
