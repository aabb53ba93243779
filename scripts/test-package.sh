#!/usr/bin/env bash
# Checks the Debian package as a host would receive it (docs/package.md):
# * builds it (scripts/package.sh; `--profile debug` by default, PROFILE=release to check the
#   release package; PREBUILT=1 packages the binary already in target/, as test-all.sh does
#   after `cargo test`) and checks its control data (`dpkg-deb -I`) and contents (`dpkg-deb -c`);
# * unpacks it into a scratch root (`dpkg -x`), runs the packaged binary's --version and
#   --check on the packaged /etc/bgpd/bgpd.toml, follows the BIRD-name links, checks the
#   maintainer scripts' syntax;
# * `systemd-analyze verify` of the packaged unit (offline: systemd need not be PID 1; the
#   packaged /usr/sbin is bind-mounted in a private mount namespace so ExecStart resolves),
#   which must print nothing;
# * every man page renders with `groff -man -Tutf8 -ww` without a warning; the bash
#   completion parses;
# * `promtool check rules` on contrib/prometheus/bgpd-rules.yml when promtool is there
#   (Debian package `prometheus`; scripts/test-all.sh unpacks it into /opt/prometheus).
# Root is needed for the mount namespace. Prints `N passed, N failed`; exits 1 on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-debug}
passed=0
failed=0
ok() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/        /'; }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local d=$1; shift
    local out
    if out=$("$@" 2>&1); then ok "$d"; else bad "$d" "$out"; fi
}

opts=(--profile "$profile")
[ "${PREBUILT:-0}" = 1 ] && opts+=(--no-build)
scripts/package.sh "${opts[@]}" || { echo "test-package: 0 passed, 1 failed"; exit 1; }
deb=$(ls target/debian/bgpd_*.deb)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1) # [workspace.package]

echo "==> dpkg-deb -I $deb"
info=$(dpkg-deb -I "$deb")
for field in "Package: bgpd" "Version: $version-1" "Architecture: $(dpkg --print-architecture)" \
    "Section: net" "Depends: libc6"; do
    check "control has '$field'" grep -q "^ $field" <<<"$info"
done
check "conffiles lists /etc/bgpd/bgpd.toml" \
    bash -c "dpkg-deb -f '$deb' Package >/dev/null && dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/bgpd/bgpd.toml"
for s in postinst prerm postrm; do
    check "maintainer script $s present" grep -q " $s " <<<"$info"
done

echo "==> dpkg-deb -c $deb"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/bgpd ./etc/bgpd/bgpd.toml ./lib/systemd/system/bgpd.service \
    ./usr/share/doc/bgpd/examples/standalone.toml ./usr/share/doc/bgpd/examples/calico-node.toml \
    ./usr/share/doc/bgpd/copyright ./usr/share/man/man8/bgpd.8.gz ./usr/share/man/man5/bgpd.toml.5.gz \
    ./usr/share/bash-completion/completions/bgpd ./usr/share/zsh/vendor-completions/_bgpd \
    ./usr/share/fish/vendor_completions.d/bgpd.fish \
    ./usr/share/doc/bgpd/contrib/grafana/bgpd.json ./usr/share/doc/bgpd/contrib/prometheus/bgpd-rules.yml; do
    check "package holds $f" grep -q " $f\$" <<<"$contents"
done
for n in bird bird6 birdc birdcl birdc6 birdcl6; do
    check "link /usr/lib/bgpd/bird-compat/$n -> ../../../sbin/bgpd" \
        grep -q "^l.* ./usr/lib/bgpd/bird-compat/$n -> ../../../sbin/bgpd\$" <<<"$contents"
done
outside=$(awk '{print $6}' <<<"$contents" | grep -vE '^\./((etc|lib|usr)(/.*)?)?$')
check "no file outside /etc, /lib, /usr" test -z "$outside"
check "everything owned by root:root" test -z "$(grep -v ' root/root ' <<<"$contents")"
check "nothing clashes with Debian's bird/bird2 (no /usr/sbin/bird*)" \
    bash -c "! grep -E ' \./usr/s?bin/bird' <<<\"\$0\"" "$contents"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
echo "==> unpacked into $root"
check "bgpd --version prints $version" bash -c "'$root/usr/sbin/bgpd' --version | grep -qx 'bgpd $version'"
check "bgpd --check -c /etc/bgpd/bgpd.toml (the packaged config) is valid" \
    "$root/usr/sbin/bgpd" --check -c "$root/etc/bgpd/bgpd.toml"
check "the packaged config is config-examples/standalone.toml" \
    cmp "$root/etc/bgpd/bgpd.toml" config-examples/standalone.toml
for n in bird birdc birdcl; do
    check "bird-compat/$n resolves to the packaged bgpd" \
        test "$(readlink -f "$root/usr/lib/bgpd/bird-compat/$n")" = "$(readlink -f "$root/usr/sbin/bgpd")"
done
# Started under BIRD's names through the packaged links, the binary is that program.
compat="$root/usr/lib/bgpd/bird-compat"
check "bird-compat/bird --version answers as BIRD 1.6" bash -c "'$compat/bird' --version 2>&1 | grep -q '^BIRD version v1.6'"
check "bird-compat/bird -p -c /etc/bgpd/bgpd.toml parses the packaged config" \
    "$compat/bird" -p -c "$root/etc/bgpd/bgpd.toml"
for n in birdc birdcl birdc6 birdcl6; do
    check "bird-compat/$n is BIRD's client (its error and exit 1 without a socket)" bash -c \
        "out=\$('$compat/$n' -s '$root/none.ctl' show status 2>&1); [ \$? -eq 1 ] && grep -q 'Unable to connect to server control socket' <<<\"\$out\""
done
for s in postinst prerm postrm; do
    check "maintainer script $s parses (sh -n)" bash -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./$s | sh -n"
done

echo "==> systemd-analyze verify"
unit="$root/lib/systemd/system/bgpd.service"
for key in "Type=notify" "WatchdogSec=" "ExecReload=/bin/kill -HUP \$MAINPID" \
    "ExecStartPre=/usr/sbin/bgpd --check -c /etc/bgpd/bgpd.toml" "Restart=on-failure" \
    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW" "ProtectSystem=strict" \
    "RuntimeDirectory=bgpd" "ProtectHome=yes" "NoNewPrivileges=yes" \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX" "SystemCallFilter=@system-service"; do
    check "unit sets $key" grep -qF "$key" "$unit"
done
if command -v systemd-analyze >/dev/null && command -v unshare >/dev/null; then
    man=no
    command -v man >/dev/null && man=yes
    out=$(unshare -m sh -c "mount --bind '$root/usr/sbin' /usr/sbin &&
        MANPATH='$root/usr/share/man' systemd-analyze verify --man=$man '$unit'" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify: no complaint (man check: $man)"; else bad "systemd-analyze verify (exit $rc)" "$out"; fi
else
    bad "systemd-analyze verify: systemd-analyze (Debian package systemd) or unshare missing"
fi

echo "==> man pages"
for page in "$root"/usr/share/man/man*/*.gz; do
    out=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1)
    if [ -z "$out" ]; then ok "renders without warning: ${page#"$root"}"; else bad "groff warnings: ${page#"$root"}" "$out"; fi
done
check "bgpd(8) documents SIGHUP and the config file" \
    bash -c "zcat '$root/usr/share/man/man8/bgpd.8.gz' | groff -man -Tutf8 2>/dev/null | grep -q SIGHUP"
check "bgpd.toml(5) documents [graceful_restart]" \
    bash -c "zcat '$root/usr/share/man/man5/bgpd.toml.5.gz' | grep -q 'graceful_restart'"
check "bash completion parses" bash -n "$root/usr/share/bash-completion/completions/bgpd"

echo "==> promtool"
promtool=$(command -v promtool || ls /opt/prometheus/usr/bin/promtool 2>/dev/null || true)
if [ -n "$promtool" ]; then
    check "promtool check rules contrib/prometheus/bgpd-rules.yml" \
        "$promtool" check rules contrib/prometheus/bgpd-rules.yml
else
    echo "  SKIP  promtool check rules: no promtool (Debian package prometheus; scripts/test-all.sh unpacks it into /opt/prometheus)"
fi

echo
echo "test-package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
