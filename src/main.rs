//! `pyinstrument [options] script.py [args...]`: see `app` for the program.

fn main() {
    std::process::exit(pyinstrument::app::main());
}
