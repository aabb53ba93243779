/* Records rtnetlink IPv4 route notifications of a namespace, with a CLOCK_MONOTONIC stamp each.
 * usage: nlrec OUT IDLE_SECONDS /run/netns/NAME  (stops after IDLE_SECONDS without data once
 * data came, or on SIGINT; ignores SIGTERM). Record: u64 microseconds, u32 length, datagram. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>
#include <time.h>
#include <sched.h>
#include <fcntl.h>
static volatile int stop = 0;
static void h(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
    signal(SIGTERM, SIG_IGN); signal(SIGINT, h);
    int self = open("/proc/self/ns/net", O_RDONLY); int ns = open(argv[3], O_RDONLY);
    if (ns < 0 || setns(ns, CLONE_NEWNET)) { perror("setns"); return 1; }
    int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    int sz = 0x7fffffff; setsockopt(s, SOL_SOCKET, 33, &sz, sizeof sz);
    struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_ROUTE };
    if (bind(s, (void*)&a, sizeof a)) { perror("bind"); return 1; }
    if (setns(self, CLONE_NEWNET)) { perror("setns back"); return 1; }
    FILE *f = fopen(argv[1], "wb"); static char buf[1 << 16]; long n = 0; int idle = 0;
    int idle_limit = argc > 2 ? atoi(argv[2]) : 20;
    while (!stop) {
        struct pollfd p = { s, POLLIN, 0 };
        if (poll(&p, 1, 1000) <= 0) { if (n && ++idle >= idle_limit) break; continue; }
        idle = 0;
        ssize_t k = recv(s, buf, sizeof buf, 0);
        uint32_t k32 = k < 0 ? 0xffffffff : (uint32_t)k;
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); uint64_t us = ts.tv_sec * 1000000ull + ts.tv_nsec / 1000; fwrite(&us, 8, 1, f); fwrite(&k32, 4, 1, f); if (k > 0) fwrite(buf, 1, k, f); n++;
    }
    fclose(f); fprintf(stderr, "records %ld\n", n); return 0;
}
