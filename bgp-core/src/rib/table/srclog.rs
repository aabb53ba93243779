//! DOC: each source's log of the prefixes it has paths for, and the sweeps over a source's
//! prefixes: through its log, or, for a source holding most of the table (which keeps no
//! log), by scanning the table shard by shard.

use super::*;

impl<K: Key> Table<K> {
    /// Source `src` has paths for one more prefix, `key`: logs it (compacting the log when
    /// mostly stale), or drops or rebuilds the log as the source's share of the table asks.
    pub fn log_add(&mut self, src: usize, key: K) {
        let networks = self.counts.networks;
        let Some(st) = self.src.get_mut(src) else {
            return;
        };
        st.live += 1;
        if let Some(log) = st.log.as_mut() {
            log.push(key);
            if log.len() > 2 * st.live + 1024 {
                self.compact_log(src);
            }
        }
        self.log_mode(src, networks);
    }

    /// One path of `src` is gone from a prefix: compact its log when mostly stale.
    pub fn log_remove(&mut self, src: usize) {
        let Some(st) = self.src.get_mut(src) else {
            return;
        };
        st.live = st.live.saturating_sub(1);
        if st
            .log
            .as_ref()
            .is_some_and(|l| l.len() > 4 * st.live + 1024)
        {
            self.compact_log(src);
        }
        self.log_mode(src, self.counts.networks);
    }

    /// After a sweep set `src`'s live count: a source without a log that is left with a small
    /// share of the table gets it back.
    pub fn log_remove_none(&mut self, src: usize) {
        if self.src.get(src).is_some_and(|s| s.log.is_none()) {
            self.log_mode(src, self.counts.networks);
        }
    }

    /// Drops `src`'s log when it has paths for more than half of the table's `networks`
    /// prefixes, and rebuilds it by one scan when it is down to under a quarter.
    pub(super) fn log_mode(&mut self, src: usize, networks: usize) {
        let Some(st) = self.src.get_mut(src) else {
            return;
        };
        match &st.log {
            None if st.live == 0 => st.log = Some(Vec::new()),
            Some(_) if st.live > LOG_OFF_MIN && 2 * st.live > networks => st.log = None,
            None if 4 * st.live < networks || st.live <= LOG_OFF_MIN / 2 => {
                let src16 = src as u16;
                let mut log = Vec::with_capacity(st.live);
                for i in 0..self.map.shard_count() {
                    self.src_keys_in_shard(i, src16, &mut log);
                }
                if let Some(st) = self.src.get_mut(src) {
                    st.live = log.len();
                    st.log = Some(log);
                }
            }
            _ => {}
        }
    }

    /// Appends the keys of shard `i` where `src` has a path to `into`.
    pub fn src_keys_in_shard(&self, i: usize, src: u16, into: &mut Vec<K>) {
        let multi = &self.multi;
        into.extend(
            self.map
                .shard_iter(i)
                .filter(|(_, s)| match s.src {
                    EMPTY => false,
                    MULTI => multi
                        .get(s.attr as usize)
                        .is_some_and(|m| m.iter().any(|p| p.src == src)),
                    s => s == src,
                })
                .map(|(k, _)| *k),
        );
    }

    /// The prefixes `src` has paths for, sorted, each once: from its log, or a table scan.
    pub fn source_keys(&self, src: u16) -> Vec<K> {
        let mut keys = match self.src.get(usize::from(src)) {
            None => return Vec::new(),
            Some(SrcState { log: Some(log), .. }) => log.clone(),
            Some(SrcState {
                log: None, live, ..
            }) => {
                let mut v = Vec::with_capacity(*live);
                for i in 0..self.map.shard_count() {
                    self.src_keys_in_shard(i, src, &mut v);
                }
                v
            }
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Sets or clears `flag` on every path of `src` in the table, by a scan (for a source
    /// without a log).
    pub fn set_path_flag_everywhere(&mut self, src: u16, flag: u8, on: bool) {
        let multi = &mut self.multi;
        for i in 0..self.map.shard_count() {
            for (_, slot) in self.map.shard_iter_mut(i) {
                set_src_flag(slot, multi, src, flag, on);
            }
        }
    }

    /// Rewrites `src`'s log to the prefixes it has paths for, once each.
    pub(super) fn compact_log(&mut self, src: usize) {
        let Some(st) = self.src.get_mut(src) else {
            return;
        };
        let Some(mut log) = st.log.take() else {
            return;
        };
        log.sort_unstable();
        log.dedup();
        let src16 = src as u16;
        log.retain(|k| self.with_paths(k, |ps| ps.iter().any(|p| p.src == src16)));
        log.shrink_to_fit();
        if let Some(st) = self.src.get_mut(src) {
            st.live = log.len();
            st.log = Some(log);
        }
    }
}
