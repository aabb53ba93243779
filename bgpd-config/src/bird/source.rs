//! DOC: reading a configuration tree: the root file and its `include "FILE";` statements,
//! spliced at token level where they stand, as BIRD's lexer does (an `include` is recognised
//! as the first token of a line). Relative names are resolved against the including file's
//! directory; depth is bounded ([`MAX_INCLUDE_DEPTH`], BIRD's 8) and a file including itself,
//! directly or not, is an error naming the chain.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::lexer::{lex, Tok, Token};
use super::{BirdError, Pos};

/// Deepest include chain (BIRD 1.6: `MAX_INCLUDE_DEPTH` 8).
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// Most files one configuration may read (include fan-out bound).
pub const MAX_FILES: usize = 256;

/// Where file contents come from: the file system, or memory (tests, the fuzz target).
pub trait Files {
    /// The text of `path`, or why it cannot be read.
    fn read(&mut self, path: &Path) -> Result<String, String>;
    /// A name identifying the file for cycle detection.
    fn identity(&mut self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

/// The file system.
pub struct Fs;

impl Files for Fs {
    fn read(&mut self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
    fn identity(&mut self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Files held in memory, by name.
#[derive(Debug, Default, Clone)]
pub struct MemFiles(pub HashMap<PathBuf, String>);

impl Files for MemFiles {
    fn read(&mut self, path: &Path) -> Result<String, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "No such file or directory".to_string())
    }
}

/// The tokens of a whole configuration and the names of the files read (indexed by
/// [`Pos::file`]).
pub struct Loaded {
    pub tokens: Vec<Token>,
    pub names: Vec<String>,
}

/// Reads `root` and everything it includes. On error, `names` still holds the files read, so
/// the error's position can be named.
pub fn load(root: &Path, files: &mut dyn Files) -> Result<Loaded, (BirdError, Vec<String>)> {
    let mut st = State {
        files,
        names: Vec::new(),
        stack: Vec::new(),
        tokens: Vec::new(),
    };
    match st.expand(root, None) {
        Ok(()) => Ok(Loaded {
            tokens: st.tokens,
            names: st.names,
        }),
        Err(e) => Err((e, st.names)),
    }
}

struct State<'a> {
    files: &'a mut dyn Files,
    names: Vec<String>,
    stack: Vec<PathBuf>,
    tokens: Vec<Token>,
}

impl State<'_> {
    fn expand(&mut self, path: &Path, from: Option<Pos>) -> Result<(), BirdError> {
        let at = from.unwrap_or_default();
        if self.names.len() >= MAX_FILES {
            return Err(BirdError::new(
                at,
                format!("more than {MAX_FILES} files included"),
            ));
        }
        let id = self.files.identity(path);
        if let Some(i) = self.stack.iter().position(|p| *p == id) {
            let chain: Vec<String> = self
                .stack
                .get(i..)
                .unwrap_or_default()
                .iter()
                .chain(std::iter::once(&id))
                .map(|p| p.display().to_string())
                .collect();
            return Err(BirdError::new(
                at,
                format!("include cycle: {}", chain.join(" -> ")),
            ));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(BirdError::new(
                at,
                format!("include depth over {MAX_INCLUDE_DEPTH}"),
            ));
        }
        let text = self.files.read(path).map_err(|e| {
            BirdError::new(
                at,
                if from.is_some() {
                    format!("unable to open included file {}: {e}", path.display())
                } else {
                    format!("unable to open configuration file {}: {e}", path.display())
                },
            )
        })?;
        let file = self.names.len() as u16;
        self.names.push(path.display().to_string());
        let toks = lex(&text, file)?;
        self.stack.push(id);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut i = 0;
        while let Some(t) = toks.get(i) {
            let is_include = t.line_start
                && matches!(&t.tok, Tok::Sym { name, quoted: false } if name == "include");
            if is_include {
                let (Some(Tok::Str(name)), Some(Tok::P(";"))) = (
                    toks.get(i + 1).map(|t| &t.tok),
                    toks.get(i + 2).map(|t| &t.tok),
                ) else {
                    return Err(BirdError::new(
                        t.pos,
                        "syntax error: expected `include \"FILE\";`",
                    ));
                };
                if name.contains(['*', '?', '[']) {
                    return Err(BirdError::new(
                        t.pos,
                        "include patterns (globs) are not supported",
                    ));
                }
                let p = Path::new(name);
                let target = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    dir.join(p)
                };
                self.expand(&target, Some(t.pos))?;
                i += 3;
                continue;
            }
            self.tokens.push(t.clone());
            i += 1;
        }
        self.stack.pop();
        Ok(())
    }
}
