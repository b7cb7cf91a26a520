"""pyinstrument: a call-stack profiler for Python.

    from pyinstrument import Profiler
    profiler = Profiler()          # or Profiler(use_signal=False)
    profiler.start()
    ...                            # code you want to profile
    profiler.stop()
    print(profiler.output_text(unicode=True, color=True))
"""
from pyinstrument.profiler import Profiler

__version__ = '0.1.0'
__all__ = ['Profiler']
