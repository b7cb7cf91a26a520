//! The `pyinstrument` command of a wheel: see `launch`. Built with the
//! `extension-module` feature (no libpython linked), by pyshim/setup.py
//! when PYINSTRUMENT_COMMAND=launcher (ci/build-wheels.sh).

fn main() {
    std::process::exit(pyinstrument::launch::main());
}
