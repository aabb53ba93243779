//! DOC: the kernel as the monitor and dumps show it: links (names, indexes, up/down, churn
//! forgotten), local addresses (the on-link subnets pool routes depend on: a change resolves
//! the affected intents again, `resolve`), kept as the published `KernelView` too, and the
//! other protocols' routes learned when `learn` is on.

use super::*;

impl Fib {
    pub(super) fn link(&mut self, now: Instant, present: bool, l: wire::KernelLink) {
        let gen = self.dump_gen();
        if present {
            let name: Box<str> = l.name.as_str().into();
            let mut came_up = false;
            let mut renamed_from: Option<Box<str>> = None;
            let changed = match self.links.get_mut(&l.index) {
                Some(rec) => {
                    rec.gen = gen;
                    if !rec.admin_up && l.admin_up {
                        came_up = true;
                    }
                    rec.admin_up = l.admin_up;
                    if rec.name != name {
                        self.link_by_name.remove(&rec.name);
                        renamed_from = Some(std::mem::replace(&mut rec.name, name.clone()));
                        rec.up = l.up;
                        true
                    } else if rec.up != l.up {
                        rec.up = l.up;
                        true
                    } else {
                        false
                    }
                }
                None => {
                    self.links.insert(
                        l.index,
                        LinkRec {
                            name: name.clone(),
                            up: l.up,
                            admin_up: l.admin_up,
                            gen,
                        },
                    );
                    true
                }
            };
            if let Some(old) = renamed_from {
                self.refresh_name(&old);
            }
            if came_up
                && self.cfg.ignore_addresses_of_down_links
                && !self.dump_queue.contains(&DumpKind::Addresses)
            {
                // Its addresses were ignored while it was down.
                self.dump_queue.push_back(DumpKind::Addresses);
            }
            if changed {
                self.view.links.insert(l.index, l.name.clone());
                self.view_changed = true;
                self.link_by_name.insert(name.clone(), l.index);
                self.refresh_name(&name);
                // Routes waiting for this device name can be installed now.
                if self.name_ids.contains_key(&name) && self.synced {
                    self.request_scan(now);
                }
                self.events.push_back(FibEvent::Link {
                    index: l.index,
                    name: l.name,
                    up: l.up,
                });
            }
        } else {
            self.forget_link(l.index);
        }
    }

    /// Keeps `name_ifindex` in step after `link_by_name` changed for `name`.
    pub(super) fn refresh_name(&mut self, name: &str) {
        if let Some(id) = self.name_ids.get(name) {
            let idx = self.link_by_name.get(name).copied().unwrap_or(0);
            if let Some(slot) = self.name_ifindex.get_mut(*id as usize) {
                *slot = idx;
            }
        }
    }

    pub(super) fn forget_link(&mut self, index: u32) {
        if let Some(rec) = self.links.remove(&index) {
            if self.link_by_name.get(&rec.name) == Some(&index) {
                self.link_by_name.remove(&rec.name);
                self.refresh_name(&rec.name);
            }
            for (ip, len, _) in self.addrs.remove(&index).unwrap_or_default() {
                self.address_event(false, (index, ip, len));
            }
            self.view.links.remove(&index);
            self.view_changed = true;
            self.events.push_back(FibEvent::LinkRemoved {
                index,
                name: rec.name.into(),
            });
        }
    }

    pub(super) fn address_event(&mut self, add: bool, k: (u32, IpAddr, u8)) {
        let Ok(subnet) = IpNet::new(k.1, k.2).map(|n| n.trunc()) else {
            return;
        };
        if add {
            self.view.subnets.push((subnet, k.0, k.1));
        } else {
            self.view
                .subnets
                .retain(|(s, i, a)| !(*s == subnet && *i == k.0 && *a == k.1));
        }
        self.view_changed = true;
        // Routes through a gateway in this subnet may resolve differently now.
        self.onlink_changed(subnet);
        self.events.push_back(if add {
            FibEvent::AddressAdd {
                ifindex: k.0,
                address: k.1,
                subnet,
            }
        } else {
            FibEvent::AddressRemove {
                ifindex: k.0,
                address: k.1,
                subnet,
            }
        });
    }

    pub(super) fn address(&mut self, present: bool, a: wire::KernelAddress) {
        let k = (a.ifindex, a.address, a.prefix_len);
        let gen = self.dump_gen();
        if present {
            // Like Calico's BIRD: addresses of interfaces that are not administratively up
            // (kube-ipvs0 carries every service IP) are not reported; they are dumped
            // again when the interface comes up.
            if self.cfg.ignore_addresses_of_down_links
                && self.links.get(&a.ifindex).is_some_and(|l| !l.admin_up)
            {
                return;
            }
            let v = self.addrs.entry(a.ifindex).or_default();
            match v
                .iter_mut()
                .find(|e| e.0 == a.address && e.1 == a.prefix_len)
            {
                Some(e) => e.2 = gen,
                None => {
                    v.push((a.address, a.prefix_len, gen));
                    self.address_event(true, k);
                }
            }
        } else if let Some(v) = self.addrs.get_mut(&a.ifindex) {
            let before = v.len();
            v.retain(|e| !(e.0 == a.address && e.1 == a.prefix_len));
            let removed = v.len() != before;
            if v.is_empty() {
                self.addrs.remove(&a.ifindex);
            }
            if removed {
                self.address_event(false, k);
            }
        }
    }

    pub(super) fn learnable(&self, r: &KernelRoute) -> bool {
        self.cfg.learn
            && r.protocol != self.cfg.protocol
            && (self.cfg.learn_kernel_routes || r.protocol > 2)
            && self.cfg.learn_tables.contains(&r.table)
            && matches!(
                r.rtype,
                wire::RTN_UNICAST
                    | wire::RTN_BLACKHOLE
                    | wire::RTN_UNREACHABLE
                    | wire::RTN_PROHIBIT
            )
    }

    pub(super) fn learned_of(r: &KernelRoute) -> LearnedRoute {
        LearnedRoute {
            key: RouteKey::new(r.table, r.prefix, r.metric),
            protocol: r.protocol,
            route_type: r.rtype,
            scope: r.scope,
            nexthops: r.nexthops.iter().map(|n| (n.gateway, n.ifindex)).collect(),
            ifindex: match r.nexthops.as_slice() {
                [one] if !r.multipath => one.ifindex,
                _ => 0,
            },
        }
    }

    pub(super) fn learn(&mut self, r: &KernelRoute) {
        let lr = Self::learned_of(r);
        let gen = self.dump_gen();
        match self.learned.get_mut(&lr.key) {
            Some((old, g)) => {
                *g = gen;
                if *old != lr {
                    *old = lr.clone();
                    self.events.push_back(FibEvent::LearnedAdd(lr));
                }
            }
            None => {
                self.learned.insert(lr.key, (lr.clone(), gen));
                self.events.push_back(FibEvent::LearnedAdd(lr));
            }
        }
    }

    pub(super) fn notified_route(&mut self, present: bool, r: &KernelRoute) {
        // Our own routes are checked by the periodic reconcile, not by notifications.
        if !self.learnable(r) || !self.cfg.families.contains(&r.prefix) {
            return;
        }
        if present {
            self.learn(r);
        } else {
            let key = RouteKey::new(r.table, r.prefix, r.metric);
            if self.learned.remove(&key).is_some() {
                self.events.push_back(FibEvent::LearnedRemove(key));
            }
        }
    }
}
