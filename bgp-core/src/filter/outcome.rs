//! What a filter run returns: the verdict and, for an accepted route it changed, the changes
//! themselves rather than a whole new attribute set. Most filters (Calico's kernel and
//! export filters) only write scalar attributes (`krt_metric`, `krt_tunnel`, `preference`,
//! `bgp_local_pref`, `bgp_med`); those come back as their final values, and the caller applies
//! them where it builds its route (the FIB reads them without building any attribute set).

use super::ops::RuntimeError;
use super::route::Scalars;
use crate::rib::attrs::{KernelTunnel, RouteAttrs};

/// A filter's final word on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Verdict {
    /// Keep the route (with the modifications made).
    Accept,
    /// Drop the route.
    Reject,
}

/// The result of running a filter on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Accepted or rejected.
    pub verdict: Verdict,
    /// What the filter changed, when it accepted the route and assigned something: relative
    /// to the attributes it ran on (see [`Outcome::modified`] for the whole set).
    pub changes: Option<Changes>,
    /// The run-time error that rejected the route, if one did (to be logged and counted);
    /// also set when the filter ended without `accept` or `reject`, which BIRD 1.6 reports
    /// ("did not return accept nor reject") and treats as a reject.
    pub error: Option<RuntimeError>,
    /// Lines written by `print`/`printn` (BIRD logs them at level info).
    pub output: Vec<String>,
}

impl Outcome {
    /// The modified attributes (`orig` with the changes applied) when the filter accepted the
    /// route and assigned something; `orig` must be the attributes the filter ran on.
    #[must_use]
    pub fn modified(&self, orig: &RouteAttrs) -> Option<RouteAttrs> {
        self.changes.as_ref().map(|c| c.to_attrs(orig))
    }
}

/// The changes an accepted filter run made to a route's attributes. Every reading method takes
/// the attributes the filter ran on (`orig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// A copy of the attributes with the writes of the other attributes (the scalars as in
    /// the input), when there were any.
    copy: Option<Box<RouteAttrs>>,
    /// The scalars' final values, when one was written.
    scalars: Option<Scalars>,
}

impl Changes {
    pub(super) fn new(copy: Option<Box<RouteAttrs>>, scalars: Option<Scalars>) -> Changes {
        Changes { copy, scalars }
    }

    /// The attributes with the changes of everything but `krt_metric`, `krt_tunnel`,
    /// `preference`, `bgp_local_pref` and `bgp_med` (read those with the methods here).
    #[must_use]
    pub fn base<'a>(&'a self, orig: &'a RouteAttrs) -> &'a RouteAttrs {
        self.copy.as_deref().unwrap_or(orig)
    }

    /// `krt_metric` after the filter.
    #[must_use]
    pub fn krt_metric(&self, orig: &RouteAttrs) -> Option<u32> {
        match &self.scalars {
            Some(s) => s.krt_metric(),
            None => self.base(orig).meta.krt_metric,
        }
    }

    /// `krt_tunnel` after the filter.
    #[must_use]
    pub fn tunnel<'a>(&'a self, orig: &'a RouteAttrs) -> Option<&'a KernelTunnel> {
        match &self.scalars {
            Some(s) => s.tunnel(),
            None => self.base(orig).meta.tunnel.as_ref(),
        }
    }

    /// `bgp_local_pref` after the filter.
    #[must_use]
    pub fn local_pref(&self, orig: &RouteAttrs) -> Option<u32> {
        match &self.scalars {
            Some(s) => s.local_pref(),
            None => self.base(orig).attrs.local_pref,
        }
    }

    /// The whole modified attribute set (a copy of `orig` or of the filter's copy).
    #[must_use]
    pub fn to_attrs(&self, orig: &RouteAttrs) -> RouteAttrs {
        let mut r = self.base(orig).clone();
        if let Some(s) = &self.scalars {
            s.clone().store(&mut r);
        }
        r
    }

    /// Applies the changes to `r`, which must hold the attributes the filter ran on: no copy
    /// when only scalars changed.
    pub fn apply(self, r: &mut RouteAttrs) {
        if let Some(c) = self.copy {
            *r = *c;
        }
        if let Some(s) = self.scalars {
            s.store(r);
        }
    }
}

#[cfg(test)]
impl Outcome {
    /// Everything the outcome says with the changes applied to `orig` (the attributes the filter
    /// ran on): for comparing runs whose changes are held differently (compiled and reference).
    pub(crate) fn resolved(
        &self,
        orig: &RouteAttrs,
    ) -> (
        Verdict,
        Option<RouteAttrs>,
        Option<RuntimeError>,
        Vec<String>,
    ) {
        (
            self.verdict,
            self.modified(orig),
            self.error,
            self.output.clone(),
        )
    }
}
