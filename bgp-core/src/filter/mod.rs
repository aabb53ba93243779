//! DOC: the filter engine: one representation of route filters for both configuration
//! front-ends (BIRD's filter language and the TOML `[[policies]]` terms), compiled once per
//! filter into the form its executor runs.
//!
//! # The representation
//!
//! A [`Program`] is a table of [`Function`]s and a set of named [`Filter`]s. Bodies are trees
//! of [`Stmt`]s and [`Expr`]s over [`Value`]s of BIRD 1.6's types, with every name resolved by
//! the front-end: route attributes are [`Attr`]s, variables and parameters are [`Slot`]s in the
//! enclosing body's frame, calls name a [`FuncId`]. A front-end builds a program with a
//! [`ProgramBuilder`] (declare functions, define their bodies, add filters, `finish`), which
//! checks what the front-end could get wrong (undefined or duplicate functions, slots out of
//! the frame, wrong argument counts, assignments to read-only attributes, nesting deeper than
//! [`check::MAX_NESTING`]) and computes each filter's [`Analysis`].
//!
//! ```
//! use bgp_core::filter::{Attr, CmpOp, Expr, Filter, PrefixRange, PrefixSet, Set, Stmt, Value};
//!
//! // filter f { if net ~ [ 10.0.0.0/8+ ] then { bgp_local_pref = 200; accept; } reject; }
//! let set = Set::Prefix(PrefixSet::new(["10.0.0.0/8+".parse::<PrefixRange>().unwrap()]));
//! let f = Filter::simple(
//!     "f",
//!     vec![
//!         Stmt::if_then(
//!             Expr::matches(Expr::attr(Attr::Net), Expr::val(Value::set(set))),
//!             vec![Stmt::SetAttr(Attr::BgpLocalPref, Expr::int(200)), Stmt::Accept],
//!         ),
//!         Stmt::Reject,
//!     ],
//! )
//! .unwrap();
//! assert!(f.analysis.reads_prefix && f.analysis.writes && !f.analysis.rejects_all);
//! ```
//!
//! # Semantics (BIRD 1.6's)
//!
//! * A filter runs its statements in order until `accept` or `reject`, which end the whole
//!   filter from any call depth. A filter that ends without either rejects the route (so does
//!   `return` at filter level).
//! * Functions return with `return [e]`; their value is void without one. Calls are bounded in
//!   depth.
//! * `int` is 32-bit unsigned; `+`, `-`, `*` wrap; `/` by zero is an error.
//! * Reading an attribute the route lacks gives void (community lists read as empty lists);
//!   `defined(x)` tests for it. Void compares below every value (`krt_metric < 1024` holds
//!   when `krt_metric` is unset, as in BIRD 1.6), `=` never fails; using void in arithmetic,
//!   `~`, or assigning it to an attribute is a run-time error.
//! * `~` and `!~` dispatch on their operands' types as BIRD's `val_in_range` does (see
//!   [`in_range`]).
//! * A run-time error (wrong types, void operands, a pair half above 65535) rejects the route
//!   and is reported to the caller, which logs and counts it; the engine never panics.
//! * Assignments change the route the filter returns, and later statements see them.
//!
//! # Running
//!
//! [`Filter::run`] takes the route's [`RouteCtx`] (prefix, source, neighbour, protocol name)
//! and attributes and returns an [`Outcome`]: the verdict, the [`Changes`] (only when
//! accepted and changed: the final values of the scalar attributes written, and a copy of the
//! attributes only when others were), the run-time error if any, and the `print` output. The
//! RIB runs every import, export and kernel filter this way; a filter whose [`Analysis::reads_prefix`]
//! is false gives the same outcome for every prefix of an UPDATE, which the RIB uses to run it
//! once per UPDATE.
//!
//! When a filter is built (`Filter::new`, [`ProgramBuilder::finish`]) its body and the
//! program's functions are also compiled (`code.rs`) into a form with the common shapes
//! specialised (conditions without values, unboxed ints, integer prefix tests, patterns
//! analysed once, leaf functions and calls with constant arguments in place, sorted
//! per-length prefix index tables), then laid out as arrays of instructions with jumps
//! (`flat.rs`), which `Filter::run` executes in a loop (`exec.rs`) with scalar attribute
//! writes held in an overlay, which an accepted route's [`Changes`] carries for the
//! caller to apply where it builds its route. The tree interpreter (`interp.rs`) is kept for
//! tests, as the reference the compiled form must agree with.

mod builder;
pub mod check;
mod code;
mod exec;
mod flat;
mod index;
mod inline;
#[cfg(test)]
mod interp;
mod ir;
mod ops;
mod outcome;
mod prefix;
mod route;
mod value;

pub use builder::{Frame, Program, ProgramBuilder};
pub use exec::{RouteCtx, MAX_CALL_DEPTH};
pub use index::{PrefixIndex, MIN_RUN};
pub use ir::{
    Analysis, ArithOp, Attr, CmpOp, Expr, Filter, FuncId, Function, MaskTerm, Method, ModOp, Slot,
    Stmt, Var,
};
pub use ops::{compare, in_range, path_match, same, RuntimeError};
pub use outcome::{Changes, Outcome, Verdict};
pub use prefix::{glob_match, PrefixRange, PrefixRangeError, PrefixSet};
pub use value::{
    pack_pair, pair_product, EnumKind, EnumValue, MaskItem, RangeSet, Set, SetKind, Type, Value,
};

/// Why a program is malformed (a front-end bug or an unsupported construct it let through).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IrError {
    /// A set range whose low end is above its high end.
    #[error("set range with its low end above its high end")]
    BadRange,
    /// Two functions of one name.
    #[error("function {0:?} defined twice")]
    DuplicateFunction(String),
    /// Two filters of one name.
    #[error("filter {0:?} defined twice")]
    DuplicateFilter(String),
    /// A function declared but never given a body.
    #[error("function {0:?} declared but not defined")]
    UndefinedFunction(String),
    /// A call of a function id outside the table.
    #[error("call of unknown function #{0}")]
    BadFunction(u32),
    /// A variable slot outside the body's frame.
    #[error("{body}: variable slot {slot} outside the frame")]
    BadSlot {
        /// The function or filter.
        body: String,
        /// The slot.
        slot: u16,
    },
    /// A call with the wrong number of arguments.
    #[error("function {function:?} takes {expected} arguments, called with {got}")]
    Arity {
        /// The callee.
        function: String,
        /// Its parameter count.
        expected: usize,
        /// Arguments given.
        got: usize,
    },
    /// An assignment to a read-only attribute.
    #[error("{body}: attribute {attr} is read-only")]
    ReadOnly {
        /// The function or filter.
        body: String,
        /// The attribute's name.
        attr: &'static str,
    },
    /// Statements or expressions nested deeper than [`check::MAX_NESTING`].
    #[error("{0}: nested too deeply")]
    TooDeep(String),
    /// A parameter declared after a local variable.
    #[error("parameter {0:?} declared after a local variable")]
    ParamAfterLocal(String),
    /// More than 65,536 variables in one frame.
    #[error("too many variables")]
    TooManyVariables,
    /// More than 2^32 functions.
    #[error("too many functions")]
    TooManyFunctions,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_compiled;
#[cfg(test)]
mod tests_stmt;
