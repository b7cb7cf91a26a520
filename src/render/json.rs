//! Our own JSON: the whole session, versioned, loadable again with
//! `Session::from_json` (schema: docs/json-format.md).

use crate::session::Session;
use std::io;

pub fn write(session: &Session, out: &mut dyn io::Write) -> io::Result<()> {
    session.write_json(out)
}
