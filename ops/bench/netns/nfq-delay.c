/*
 * nfq-delay: holds every packet of one NFQUEUE queue for a fixed time, then lets it go, in arrival order.
 *
 * A stand-in for `tc qdisc add dev X root netem delay D` on kernels built without sch_netem (this project's VM:
 * `# CONFIG_NET_SCH_NETEM is not set`, no loadable modules). Packets reach it from an iptables rule
 * `-j NFQUEUE --queue-num Q` in the network namespace it runs in (the queue belongs to the namespace of the
 * socket, so run it with `ip netns exec NS nfq-delay ...`). It differs from netem in ways that make the added delay
 * larger than D, never smaller, which is why netns.sh measures the delay actually added:
 *   - the hold starts when this process reads the packet, so the time the kernel's queue waits for this process to
 *     wake up comes on top of D, and so does the wake-up after the timer fires and the verdict's system call;
 *   - it runs in user space, so under CPU load it waits for a CPU like any process (--fifo gives it SCHED_FIFO, as
 *     netem's timers run in softirq context ahead of every process).
 * It never busy-waits: it sleeps in poll(2) on the queue's socket and a CLOCK_MONOTONIC timerfd armed with the
 * absolute release time of the oldest packet held (timer slack set to 1 ns). Order is preserved: packets are
 * released in the order they arrived (one FIFO; every packet gets the same D), with one batch verdict covering every
 * packet that is due. Only packet metadata is copied to user space (NFQNL_COPY_META), and GSO packets are queued
 * whole (NFQA_CFG_F_GSO).
 *
 * Usage: nfq-delay --queue Q --delay-us D [--fifo PRIO]
 * Prints "READY queue Q delay_us D" on stdout once bound (install the iptables rule after that: packets sent to an
 * unbound queue are dropped), and on SIGTERM/SIGINT a one-line JSON summary of how late packets were released
 * relative to their deadline (p50/p99/max, microseconds) on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Larger than the kernel queue's maximum length, so the FIFO cannot overflow. */
#define QUEUE_MAXLEN 8192u
#define RING 16384u
#define LATE_BUCKETS 100000u /* lateness histogram, 1 us buckets; the last bucket collects everything later */

static uint32_t ring_id[RING];
static uint64_t ring_due[RING];
static uint32_t head, tail; /* head == tail: empty */
static uint64_t delay_ns;
static uint64_t arrival_ns; /* time of the current read, stamped on every packet it carried */
static uint64_t packets, overflow, max_depth;
static uint64_t late_hist[LATE_BUCKETS];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "nfq-delay: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
    (void) msg;
    (void) data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (ph == NULL) return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (tail - head >= RING) {
        /* Cannot happen while QUEUE_MAXLEN < RING; if it does, let the packet go undelayed and count it. */
        overflow++;
        nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
        return 0;
    }
    ring_id[tail % RING] = id;
    ring_due[tail % RING] = arrival_ns + delay_ns;
    tail++;
    packets++;
    if (tail - head > max_depth) max_depth = tail - head;
    return 0;
}

/* Releases every packet that is due, with one verdict for the newest of them (the kernel accepts every queued packet
 * with an id up to it, oldest first). */
static void release_due(struct nfq_q_handle *qh) {
    if (head == tail) return;
    uint64_t now = now_ns();
    uint32_t last = 0;
    int any = 0;
    while (head != tail && ring_due[head % RING] <= now) {
        uint64_t late_us = (now - ring_due[head % RING]) / 1000u;
        late_hist[late_us < LATE_BUCKETS ? late_us : LATE_BUCKETS - 1]++;
        last = ring_id[head % RING];
        head++;
        any = 1;
    }
    if (any && nfq_set_verdict_batch(qh, last, NF_ACCEPT) < 0) die("batch verdict");
}

static uint64_t late_pct(double p) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < LATE_BUCKETS; i++) total += late_hist[i];
    if (total == 0) return 0;
    uint64_t want = (uint64_t) (p * (double) (total - 1)) + 1, seen = 0;
    for (uint32_t i = 0; i < LATE_BUCKETS; i++) {
        seen += late_hist[i];
        if (seen >= want) return i;
    }
    return LATE_BUCKETS - 1;
}

int main(int argc, char **argv) {
    long queue = -1, delay_us = -1, fifo = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc) queue = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) delay_us = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--fifo") == 0 && i + 1 < argc) fifo = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: nfq-delay --queue Q --delay-us D [--fifo PRIO]\n(unknown or incomplete argument '%s')\n", argv[i]);
            return 2;
        }
    }
    if (queue < 0 || queue > 65535 || delay_us < 0 || delay_us > 10000000 || fifo < 0 || fifo > 99) {
        fprintf(stderr, "nfq-delay: need --queue 0..65535 and --delay-us 0..10000000 (got queue %ld, delay %ld us), --fifo 0..99\n",
                queue, delay_us);
        return 2;
    }
    delay_ns = (uint64_t) delay_us * 1000u;
    if (prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) != 0) die("PR_SET_TIMERSLACK");
    if (fifo > 0) {
        struct sched_param sp = {.sched_priority = (int) fifo};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) die("sched_setscheduler(SCHED_FIFO)");
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) die("sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) die("signalfd");
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0) die("timerfd_create");

    struct nfq_handle *h = nfq_open();
    if (h == NULL) die("nfq_open (needs CAP_NET_ADMIN and CONFIG_NETFILTER_NETLINK_QUEUE)");
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t) queue, on_packet, NULL);
    if (qh == NULL) die("nfq_create_queue (is another process bound to this queue in this namespace?)");
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) die("nfq_set_mode(NFQNL_COPY_META)");
    if (nfq_set_queue_maxlen(qh, QUEUE_MAXLEN) < 0) die("nfq_set_queue_maxlen");
    if (nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) die("nfq_set_queue_flags(GSO)");
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
    int nfd = nfq_fd(h);

    printf("READY queue %ld delay_us %ld\n", queue, delay_us);
    fflush(stdout);

    static char buf[65536] __attribute__((aligned));
    struct pollfd pfd[3] = {{.fd = nfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    uint64_t armed = 0; /* absolute deadline the timer is set to; 0: disarmed */
    uint64_t enobufs = 0;
    for (;;) {
        release_due(qh);
        uint64_t want = head != tail ? ring_due[head % RING] : 0;
        if (want != armed) {
            struct itimerspec its = {0};
            its.it_value.tv_sec = (time_t) (want / 1000000000u);
            its.it_value.tv_nsec = (long) (want % 1000000000u);
            if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) die("timerfd_settime");
            armed = want;
        }
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (pfd[2].revents) break;
        if (pfd[1].revents) {
            uint64_t expirations;
            if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) die("read timerfd");
            armed = 0;
        }
        if (pfd[0].revents) {
            for (;;) {
                ssize_t n = recv(nfd, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                    if (errno == ENOBUFS) { /* the socket overflowed: the kernel dropped messages */
                        enobufs++;
                        continue;
                    }
                    die("recv");
                }
                arrival_ns = now_ns();
                nfq_handle_packet(h, buf, (int) n);
            }
        }
    }
    /* Let whatever is still held go at once rather than drop it. */
    if (head != tail) nfq_set_verdict_batch(qh, ring_id[(tail - 1) % RING], NF_ACCEPT);
    fprintf(stderr,
            "{\"queue\":%ld,\"delay_us\":%ld,\"packets\":%llu,\"max_held\":%llu,\"late_us_p50\":%llu,\"late_us_p99\":%llu,"
            "\"late_us_max\":%llu,\"undelayed_overflow\":%llu,\"enobufs\":%llu}\n",
            queue, delay_us, (unsigned long long) packets, (unsigned long long) max_depth, (unsigned long long) late_pct(0.5),
            (unsigned long long) late_pct(0.99), (unsigned long long) late_pct(1.0), (unsigned long long) overflow,
            (unsigned long long) enobufs);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
