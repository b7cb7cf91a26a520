//! Our own JSON: the whole session, versioned, loadable again with
//! `Session::from_json` (schema: docs/json-format.md).

use crate::session::Session;

pub fn render(session: &Session) -> String {
    session.to_json()
}
