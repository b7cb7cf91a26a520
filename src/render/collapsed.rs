//! Collapsed stacks, as flamegraph.pl and inferno read them: one line per
//! distinct stack, `outer;...;inner weight`, the weight an integer number
//! of microseconds.

use super::is_break;
use crate::session::Session;
use crate::tree::short_path;
use std::fmt::Write;

pub fn write(session: &Session, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let names: Vec<String> = session
        .frames
        .iter()
        .map(|f| {
            let name = if f.is_builtin() {
                format!("{} ({})", f.function, f.file)
            } else {
                format!(
                    "{} ({}:{})",
                    f.function,
                    short_path(&f.file, &session.sys_path),
                    f.line
                )
            };
            sanitize(&name)
        })
        .collect();
    let mut lines: Vec<String> = Vec::with_capacity(session.stacks.len());
    for stack in &session.stacks {
        if stack.frames.is_empty() || stack.frames.iter().any(|&f| f as usize >= names.len()) {
            continue;
        }
        let mut line = String::new();
        for (i, &f) in stack.frames.iter().enumerate() {
            if i > 0 {
                line.push(';');
            }
            line.push_str(&names[f as usize]);
        }
        let micros = (stack.time * 1e6).round().max(0.0) as u64;
        let _ = write!(line, " {}", micros);
        lines.push(line);
    }
    // Sorted, so the output does not depend on the order samples arrived in.
    lines.sort_unstable();
    for line in lines {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `;` separates frames and a line break ends a record: neither may appear
/// inside a frame's name (`;` becomes `,`, control characters a space).
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ';' => ',',
            c if is_break(c) => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(session: &Session) -> String {
        let mut out = Vec::new();
        write(session, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
    use crate::sample::{FrameId, StackRecord};

    #[test]
    fn one_line_per_stack_with_microseconds() {
        let mut s: Session = serde_json::from_str(crate::session::tests::MINIMAL).unwrap();
        s.sys_path = vec!["/p".into()];
        s.frames = vec![
            FrameId::new("main", "/p/a.py", 1),
            FrameId::new("we;ird\nname", "/p/a.py", 5),
            FrameId::new("sleep", "<built-in>", 0),
        ];
        s.stacks = vec![
            StackRecord {
                frames: vec![0, 1],
                time: 0.0015,
                samples: 2,
            },
            StackRecord {
                frames: vec![0, 2],
                time: 1.0,
                samples: 1,
            },
            StackRecord {
                frames: vec![],
                time: 1.0,
                samples: 1,
            },
        ];
        assert_eq!(
            render(&s),
            "main (a.py:1);sleep (<built-in>) 1000000\nmain (a.py:1);we,ird name (a.py:5) 1500\n"
        );
    }
}
