/*
 * park.c - holds suspended MHD connections: delayed answers are resumed when
 * their time comes, hung ones when their client goes away (or at shutdown).
 * One thread sleeps in poll() on an eventfd plus the sockets of hung
 * connections, with a timeout set to the earliest due time.
 */
#define _GNU_SOURCE
#include "park.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct parked {
    struct parked *prev, *next;
    struct MHD_Connection *conn;
    volatile int *gone;
    int64_t due_ms;             /* 0 = hung */
    int fd;                     /* socket of a hung connection */
    int client_left;
};

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_t thread;
static int thread_started;
static int stopping;
static int wake_fd = -1;
/* timed entries sorted by due_ms; hung entries unordered */
static struct parked *timed_head, *timed_tail, *hung_head;
static unsigned long n_hung;

/* Lock the parking lists. */
static void lock(void)
{
    if (pthread_mutex_lock(&mtx) != 0)
        abort();
}

/* Unlock the parking lists. */
static void unlock(void)
{
    if (pthread_mutex_unlock(&mtx) != 0)
        abort();
}

/* Wake the parking thread. */
static void wake(void)
{
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(wake_fd, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
    /* EAGAIN means a wake-up is already pending: fine */
}

/* Unlink e from the list whose head is *head (tail optional). */
static void unlink_entry(struct parked **head, struct parked **tail, struct parked *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        *head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else if (tail)
        *tail = e->prev;
    e->prev = e->next = NULL;
}

/* Resume and free every entry of a singly linked (via next) list. */
static void resume_list(struct parked *l)
{
    while (l) {
        struct parked *nx = l->next;
        MHD_resume_connection(l->conn);
        free(l);
        l = nx;
    }
}

/* The parking thread: resumes due and abandoned connections. */
static void *park_main(void *arg)
{
    struct pollfd *pfds = NULL;
    struct parked **map = NULL;
    size_t cap = 0;
    (void)arg;

    lock();
    for (;;) {
        struct parked *out = NULL;
        int64_t now = now_ms();
        /* collect what is due, abandoned, or everything when stopping */
        while (timed_head && (stopping || timed_head->due_ms <= now)) {
            struct parked *e = timed_head;
            unlink_entry(&timed_head, &timed_tail, e);
            if (stopping)
                *e->gone = 1;
            e->next = out;
            out = e;
        }
        for (struct parked *e = hung_head, *nx; e; e = nx) {
            nx = e->next;
            if (stopping || e->client_left) {
                unlink_entry(&hung_head, NULL, e);
                n_hung--;
                *e->gone = 1;
                e->next = out;
                out = e;
            }
        }
        if (stopping) {
            unlock();
            resume_list(out);
            break;
        }
        /* build the poll set */
        size_t need = 1 + n_hung;
        if (need > cap) {
            size_t ncap = need * 2;
            struct pollfd *np = realloc(pfds, ncap * sizeof(*np));
            if (np)
                pfds = np;
            struct parked **nm = realloc(map, ncap * sizeof(*nm));
            if (nm)
                map = nm;
            if (np && nm)
                cap = ncap;
        }
        size_t n = 0;
        if (cap > 0) {
            pfds[n].fd = wake_fd;
            pfds[n].events = POLLIN;
            pfds[n].revents = 0;
            map[n++] = NULL;
            for (struct parked *e = hung_head; e && n < cap; e = e->next) {
                pfds[n].fd = e->fd;
                pfds[n].events = POLLRDHUP;
                pfds[n].revents = 0;
                map[n++] = e;
            }
        }
        int timeout = 1000;
        if (timed_head) {
            int64_t d = timed_head->due_ms - now;
            timeout = d < 0 ? 0 : (d > 1000 ? 1000 : (int)d);
        }
        unlock();

        resume_list(out);
        if (n > 0) {
            int pr = poll(pfds, n, timeout);
            if (pr < 0 && errno != EINTR)
                usleep(1000);
        } else {
            usleep(1000);
        }
        lock();
        if (n > 0 && (pfds[0].revents & POLLIN)) {
            uint64_t v;
            if (read(wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                fprintf(stderr, "momo-sandbox: park: read eventfd: %s\n", strerror(errno));
        }
        for (size_t i = 1; i < n; i++)
            if (pfds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                map[i]->client_left = 1;
    }
    free(pfds);
    free(map);
    return NULL;
}

int park_start(void)
{
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0)
        return -1;
    if (pthread_create(&thread, NULL, park_main, NULL) != 0) {
        close(wake_fd);
        wake_fd = -1;
        return -1;
    }
    thread_started = 1;
    return 0;
}

void park_stop(void)
{
    if (!thread_started)
        return;
    lock();
    stopping = 1;
    wake();
    unlock();
    if (pthread_join(thread, NULL) != 0)
        fprintf(stderr, "momo-sandbox: park: pthread_join failed\n");
    thread_started = 0;
    close(wake_fd);
    wake_fd = -1;
}

int park(struct MHD_Connection *c, int64_t due_ms, volatile int *gone)
{
    struct parked *e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    e->conn = c;
    e->gone = gone;
    e->due_ms = due_ms;
    e->fd = -1;
    if (due_ms == 0) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci) {
            free(e);
            return -1;
        }
        e->fd = ci->connect_fd;
    }
    lock();
    if (stopping || !thread_started) {
        unlock();
        free(e);
        return -1;
    }
    MHD_suspend_connection(c);
    if (due_ms == 0) {
        e->next = hung_head;
        if (hung_head)
            hung_head->prev = e;
        hung_head = e;
        n_hung++;
        wake();
    } else {
        /* insert sorted by due time, searching from the tail (usually O(1)) */
        struct parked *p = timed_tail;
        while (p && p->due_ms > due_ms)
            p = p->prev;
        if (!p) {
            e->next = timed_head;
            if (timed_head)
                timed_head->prev = e;
            else
                timed_tail = e;
            timed_head = e;
            wake();
        } else {
            e->prev = p;
            e->next = p->next;
            if (p->next)
                p->next->prev = e;
            else
                timed_tail = e;
            p->next = e;
        }
    }
    unlock();
    return 0;
}

unsigned long park_hung(void)
{
    lock();
    unsigned long n = n_hung;
    unlock();
    return n;
}
