//! 10,000 veth cycles (a heavy test: it holds the machine-wide kernel lock alone).

use crate::harness::*;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().map(|n| n.parse().unwrap()))
        .unwrap()
}

#[test]
fn ten_thousand_veth_cycles_do_not_grow_the_interface_map() {
    let lab = Lab::heavy();
    let mut sock = lab.socket(true);
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let base_links = fib.link_count();
    let (mut created, mut removed) = (0usize, 0usize);
    let mut after_first = None;
    let rounds = 20;
    let per_round = 500;
    let t0 = Instant::now();
    for round in 0..rounds {
        // create `per_round` veths (setup through ip -batch), then delete them all: deleting
        // a link group is one batched unregistration instead of one RCU wait per veth.
        let mut text = String::new();
        for i in 0..per_round {
            let n = round * per_round + i;
            text.push_str(&format!(
                "link add cali{n:08x} group 99 type veth peer name calp{n:08x}\n"
            ));
        }
        lab.ip_batch(&text);
        sock.run_for(&mut fib, Duration::from_millis(1)).unwrap();
        lab.ip("link del group 99");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            sock.run_for(&mut fib, Duration::from_millis(5)).unwrap();
            for e in drain(&mut fib) {
                match e {
                    FibEvent::Link { name, .. } if name.starts_with("cali") => created += 1,
                    FibEvent::LinkRemoved { name, .. } if name.starts_with("cali") => removed += 1,
                    _ => {}
                }
            }
            if fib.link_count() == base_links || Instant::now() > deadline {
                break;
            }
        }
        assert_eq!(fib.link_count(), base_links, "round {round}");
        if round == 0 {
            after_first = Some((fib.link_capacity(), rss_kib()));
        }
    }
    let (cap1, rss1) = after_first.unwrap();
    let (cap, rss) = (fib.link_capacity(), rss_kib());
    eprintln!(
        "10000 veth cycles in {:?}: links {} (capacity {} -> {}), RSS {} -> {} KiB",
        t0.elapsed(),
        fib.link_count(),
        cap1,
        cap,
        rss1,
        rss
    );
    assert!(created >= rounds * per_round, "created {created}");
    assert_eq!(removed, rounds * per_round);
    assert!(cap <= cap1, "interface map grew: {cap1} -> {cap}");
}
