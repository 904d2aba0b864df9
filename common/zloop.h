/* zloop — a ZeroMQ socket driven by a libuv loop.
 *
 * Wraps one ZeroMQ socket in one uv_poll_t (UV_READABLE only) plus one uv_idle_t, and handles the
 * edge-triggered ZMQ_FD as PITFALLS.md §1 requires: every wake-up, every send and every start is
 * followed by a drain (ZMQ_EVENTS + zmq_msg_recv(ZMQ_DONTWAIT) until EAGAIN), bounded to
 * ZLOOP_BATCH messages per loop turn; when the bound is hit the idle handle continues on the next
 * turn instead of waiting for the fd (which may never fire again).
 *
 * Threads: everything here, including the socket, belongs to the loop's thread.
 *
 * After a drain that delivered messages the loop does not block on its next turn (the idle handle
 * stays armed once more), so work that callbacks queue for a uv_check or uv_prepare handle (a group
 * commit that sends acks) runs promptly instead of waiting for the next unrelated wake-up.
 *
 * Callbacks are never called from inside a zloop_* call: sends and starts only *arm* the drain,
 * which runs from the loop on its next turn. So a message callback may freely send on its own or any
 * other socket, stop or destroy its own socket, or destroy another one.
 *
 * Shutdown: zloop_sock_destroy() stops the handles and closes them; zmq_close() runs in the uv close
 * callback, after the poll handle is closed (libzmq owns ZMQ_FD). So run the loop once more after
 * destroying (uv_run(loop, UV_RUN_DEFAULT) returns when nothing is left) and only then call
 * zmq_ctx_term(). Set ZMQ_LINGER (see PITFALLS §2.11) or zmq_ctx_term may wait for unsent messages. */
#ifndef DK_ZLOOP_H
#define DK_ZLOOP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

/* Messages handled per socket per loop turn before yielding to the rest of the loop. */
#define ZLOOP_BATCH 256
/* Messages with more frames than this are read and dropped (with a warning in the log). */
#define ZLOOP_MAX_FRAMES 32

/* Default interval of the rescue drain (see zloop_sock_set_rescue), milliseconds. */
#define ZLOOP_RESCUE_MS 250

typedef struct zloop_sock zloop_sock_t;

/* One complete multipart message, frames[0..nframes-1] (nframes >= 1). The frames are borrowed and
 * valid only during the call; the callback may zmq_msg_move() a frame out to keep it (what remains
 * is closed after the call returns). */
typedef void (*zloop_msg_cb)(zloop_sock_t *zs, zmq_msg_t *frames, size_t nframes, void *arg);

/* Wraps the socket *zsock_p for loop. On success takes ownership of the socket (it is closed by
 * zloop_sock_destroy) and sets *zsock_p to NULL. cb (may be NULL: received messages are dropped)
 * receives every message with arg. Returns NULL, leaving *zsock_p with the caller, when the socket's
 * ZMQ_FD cannot be read or libuv refuses it (logged). Does not start reading: see start. */
zloop_sock_t *zloop_sock_new(uv_loop_t *loop, void **zsock_p, zloop_msg_cb cb, void *arg);

/* Starts watching the socket and arms one immediate drain (messages queued before the start are
 * delivered on the next loop turn). Idempotent. Returns 0, DK_ECLOSED (destroyed) or DK_ENET. */
int zloop_sock_start(zloop_sock_t *zs);

/* Stops delivering messages (they stay queued in ZeroMQ until start). Idempotent; may be called from
 * the socket's own callback (no further message is delivered in that turn). Returns 0. */
int zloop_sock_stop(zloop_sock_t *zs);

/* Sends one message of nparts frames (parts[i], lens[i] bytes, copied) with ZMQ_DONTWAIT, then arms
 * the drain. Returns 0; DK_EAGAIN when the peer is at its high-water mark or the socket is mute
 * (no peer); DK_ENOTFOUND when a ROUTER with ZMQ_ROUTER_MANDATORY has no such peer (EHOSTUNREACH);
 * DK_ECLOSED when zs is being destroyed or the context is terminating; DK_EINVAL for nparts == 0;
 * DK_ENET otherwise. On failure nothing of the message was sent. */
int zloop_sock_send(zloop_sock_t *zs, const void *const *parts, const size_t *lens, size_t nparts);

/* Zero-copy variant: sends frames[0..n-1] as one message and always takes them (each is closed or
 * moved into ZeroMQ, success or not). Same returns as zloop_sock_send. */
int zloop_sock_send_msgs(zloop_sock_t *zs, zmq_msg_t *frames, size_t n);

/* Sets the interval of the rescue drain: while started, the socket is also drained every ms
 * milliseconds whatever its fd says, and a warning is logged when that finds messages (a lost
 * wake-up). 0 turns it off (tests that must prove the edge handling alone). Default
 * ZLOOP_RESCUE_MS. */
void zloop_sock_set_rescue(zloop_sock_t *zs, uint64_t ms);

/* How many rescue drains found messages since new. */
uint64_t zloop_sock_rescued(const zloop_sock_t *zs);

/* The raw ZeroMQ socket, for zmq_setsockopt/zmq_getsockopt/bind/connect only: never send or receive
 * on it directly (that would consume the edge without a drain). Valid until destroy. */
void *zloop_sock_zsock(zloop_sock_t *zs);

/* The loop this socket belongs to. */
uv_loop_t *zloop_sock_loop(zloop_sock_t *zs);

/* Number of messages delivered to the callback since new (for tests and metrics). */
uint64_t zloop_sock_received(const zloop_sock_t *zs);

/* Stops, closes the handles and nulls *self_p; the ZeroMQ socket is closed and the memory freed in
 * the uv close callback on a later loop turn. NULL-safe and idempotent; may be called from the
 * socket's own message callback (the frames of the current message stay valid until it returns). */
void zloop_sock_destroy(zloop_sock_t **self_p);

/* The ZAP "User-Id" of the connection a received frame came on (e.g. the agent id our ZAP handler
 * returned), or NULL when there is none. Valid as long as the frame. Read it from a body frame
 * (PITFALLS §2.14). */
const char *zloop_frame_user_id(zmq_msg_t *frame);

/* The peer's IP address as text ("Peer-Address" metadata) for logs, or NULL. Valid as the frame. */
const char *zloop_frame_peer_address(zmq_msg_t *frame);

#endif
