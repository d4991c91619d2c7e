//! The external solver: a `z3` binary spoken to in SMT-LIB 2 text over a pipe.
//!
//! The solver is never linked. Each script is written to a fresh `z3 -in` process, which
//! answers every command in order; its whole output is read and parsed as S-expressions.
//! Every `check-sat` has a soft timeout (`:timeout`), and the process a hard one (`-T:`), so a
//! query can never hang the classifier.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The environment variable that names the solver binary (default `z3`).
pub const SOLVER_ENV: &str = "PGVM_SMT_SOLVER";

/// What the solver and its process can do wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolverError {
    /// No solver binary.
    #[error(
        "The SMT solver `{program}` was not found: --smt needs the z3 binary\n  hint: install it with `apt-get install z3` (or point {SOLVER_ENV} at a z3 binary); without --smt the classifier needs no solver"
    )]
    Missing {
        /// The program looked for.
        program: String,
    },
    /// The binary ran but is not a z3 we understand.
    #[error("`{program} --version` printed `{output}`, not a z3 version")]
    NotZ3 {
        /// The program.
        program: String,
        /// What it printed.
        output: String,
    },
    /// The process could not be run or talked to.
    #[error("Running the solver failed: {0}")]
    Io(String),
    /// The solver answered with an error: a bug in the script the encoding wrote.
    #[error("The solver refused the query: {0}")]
    Refused(String),
    /// Output that is not the S-expressions expected.
    #[error("Unexpected solver output: {0}")]
    Garbled(String),
}

/// A solver binary that answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solver {
    /// The program run.
    pub program: String,
    /// Its version, as it printed it (`4.8.12`).
    pub version: String,
}

/// One S-expression of the solver's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sexp {
    /// A symbol, literal or string.
    Atom(String),
    /// A list.
    List(Vec<Sexp>),
}

impl Sexp {
    /// The atom's text, if it is one.
    pub fn atom(&self) -> Option<&str> {
        match self {
            Sexp::Atom(a) => Some(a),
            Sexp::List(_) => None,
        }
    }
}

impl Solver {
    /// Finds the solver: `$PGVM_SMT_SOLVER` or `z3` on the `PATH`, asked for its version.
    pub fn find() -> Result<Solver, SolverError> {
        let program = std::env::var(SOLVER_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "z3".into());
        let out = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    SolverError::Missing {
                        program: program.clone(),
                    }
                }
                _ => SolverError::Io(e.to_string()),
            })?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // "Z3 version 4.8.12 - 64 bit"
        let version = text
            .strip_prefix("Z3 version ")
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
            .ok_or_else(|| SolverError::NotZ3 {
                program: program.clone(),
                output: text.chars().take(80).collect(),
            })?;
        Ok(Solver { program, version })
    }

    /// The solver named for evidence: `z3 4.8.12`.
    pub fn describe(&self) -> String {
        format!("z3 {}", self.version)
    }

    /// Runs a script and returns every response, in order, errors included (a `get-value`
    /// after `unsat` answers with one). `soft` bounds each `check-sat`
    /// (the solver then answers `unknown`); `hard` bounds the whole process.
    pub fn run(
        &self,
        script: &str,
        soft: Duration,
        hard: Duration,
    ) -> Result<Vec<Sexp>, SolverError> {
        let io = |e: std::io::Error| SolverError::Io(e.to_string());
        let hard_secs = hard.as_secs().max(1);
        let mut child = Command::new(&self.program)
            .args(["-in", "-smt2", &format!("-T:{hard_secs}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io)?;
        let text = format!(
            "(set-option :print-success false)\n(set-option :timeout {})\n{script}\n(exit)\n",
            soft.as_millis().max(1)
        );
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| SolverError::Io("no stdin".into()))?;
        // Written from a thread: a long script and a long answer would otherwise fill both
        // pipes and wait on each other.
        let writer = std::thread::spawn(move || {
            let r = stdin.write_all(text.as_bytes());
            drop(stdin);
            r
        });
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_string(&mut out).map_err(io)?;
        }
        let _ = child.wait().map_err(io)?;
        match writer.join() {
            Ok(Ok(())) => {}
            // The solver may stop reading after a hard timeout; what it answered still counts.
            Ok(Err(_)) => {}
            Err(_) => return Err(SolverError::Io("the writer thread failed".into())),
        }
        parse(&out)
    }
}

/// The first `(error ...)` response, as the solver's message.
pub fn first_error(responses: &[Sexp]) -> Option<String> {
    responses.iter().find_map(|r| match r {
        Sexp::List(xs) if xs.first().and_then(Sexp::atom) == Some("error") => Some(
            xs.get(1)
                .and_then(Sexp::atom)
                .unwrap_or("?")
                .chars()
                .take(300)
                .collect(),
        ),
        _ => None,
    })
}

/// Parses a sequence of S-expressions.
pub fn parse(text: &str) -> Result<Vec<Sexp>, SolverError> {
    let mut stack: Vec<Vec<Sexp>> = vec![Vec::new()];
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                stack.push(Vec::new());
            }
            ')' => {
                chars.next();
                let done = stack
                    .pop()
                    .ok_or_else(|| SolverError::Garbled("')'".into()))?;
                let top = stack
                    .last_mut()
                    .ok_or_else(|| SolverError::Garbled("unbalanced ')'".into()))?;
                top.push(Sexp::List(done));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            s.push('"');
                        }
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err(SolverError::Garbled("unterminated string".into())),
                    }
                }
                push_atom(&mut stack, s)?;
            }
            '|' => {
                chars.next();
                let mut s = String::from("|");
                for c in chars.by_ref() {
                    s.push(c);
                    if c == '|' {
                        break;
                    }
                }
                push_atom(&mut stack, s)?;
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                push_atom(&mut stack, s)?;
            }
        }
    }
    if stack.len() != 1 {
        return Err(SolverError::Garbled("unbalanced '('".into()));
    }
    Ok(stack.pop().unwrap_or_default())
}

fn push_atom(stack: &mut [Vec<Sexp>], s: String) -> Result<(), SolverError> {
    stack
        .last_mut()
        .ok_or_else(|| SolverError::Garbled("no list".into()))?
        .push(Sexp::Atom(s));
    Ok(())
}

/// A value of a model: a bit-vector literal (`#x..`, `#b..`, `(_ bvN 64)`) or a Boolean, as
/// a word (`true` is 1).
pub fn value(s: &Sexp) -> Option<u64> {
    match s {
        Sexp::Atom(a) => {
            if let Some(h) = a.strip_prefix("#x") {
                u64::from_str_radix(h, 16).ok()
            } else if let Some(b) = a.strip_prefix("#b") {
                u64::from_str_radix(b, 2).ok()
            } else {
                match a.as_str() {
                    "true" => Some(1),
                    "false" => Some(0),
                    _ => None,
                }
            }
        }
        Sexp::List(xs) => match xs.as_slice() {
            [Sexp::Atom(u), Sexp::Atom(bv), Sexp::Atom(_)] if u == "_" => {
                bv.strip_prefix("bv").and_then(|n| n.parse().ok())
            }
            _ => None,
        },
    }
}

/// The values of a `get-value` response, in order.
pub fn values(s: &Sexp) -> Option<Vec<u64>> {
    match s {
        Sexp::List(pairs) => pairs
            .iter()
            .map(|p| match p {
                Sexp::List(kv) if kv.len() == 2 => value(&kv[1]),
                _ => None,
            })
            .collect(),
        Sexp::Atom(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse() {
        let r = parse("sat\n((|q| #x0000000000000010) (t3 true) (t4 (_ bv5 64)))\nunknown\n")
            .expect("parses");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Sexp::Atom("sat".into()));
        assert_eq!(values(&r[1]), Some(vec![16, 1, 5]));
        assert!(parse("((").is_err());
        assert!(parse(")").is_err());
        assert_eq!(
            parse("(error \"line 1: \"\"x\"\" bad\")").expect("parses")[0],
            Sexp::List(vec![
                Sexp::Atom("error".into()),
                Sexp::Atom("line 1: \"x\" bad".into())
            ])
        );
    }
}
