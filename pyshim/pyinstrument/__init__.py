"""pyinstrument: a call-stack profiler for Python.

    from pyinstrument import Profiler
    profiler = Profiler()          # or Profiler(use_signal=False)
    profiler.start()
    ...                            # code you want to profile
    profiler.stop()
    print(profiler.output_text(unicode=True, color=True))

    @pyinstrument.profile()        # or: with pyinstrument.profile():
    def main(): ...                # a report on stderr after each call
"""
from pyinstrument.profiler import Profiler, profile

__version__ = '0.1.0'
__all__ = ['Profiler', 'profile']
