/* metrics — Prometheus counters, gauges and histograms of the aggregator, served at /metrics.
 *
 * Process-wide by nature (one aggregator per process), so the values live in this module, not in
 * an object: any module records with one call and no handle. Every function is thread-safe (C11
 * atomics) and cheap enough to call once per event from the ingest worker thread or the loop.
 *
 * Exposed families (text format 0.0.4):
 *   dk_events_total{result="stored|duplicate|rejected"}   events received, by outcome
 *   dk_rejects_total{code="-102"}                         rejected events by DK_E* code
 *   dk_commit_seconds (histogram)                         group-commit latency
 *   dk_batch_events (histogram)                           events per received batch
 *   dk_commit_events (histogram)                          events per commit
 *   dk_connected_agents, dk_sse_clients, dk_http_requests_total{code}, dk_store_bytes,
 *   dk_store_events, dk_version, dk_uptime_seconds */
#ifndef DK_METRICS_H
#define DK_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* One event's outcome: result is a Dk__ResultCode value (1 STORED, 2 DUPLICATE, 3 REJECTED);
 * code is the DK_E* code of a rejection (ignored otherwise). */
void metrics_count_event(int result, int code);

/* One group commit that took `seconds` (wall clock, begin to durable) and wrote `events` events. */
void metrics_observe_commit(double seconds, size_t events);

/* One batch received from an agent holding `events` events. */
void metrics_observe_batch(size_t events);

/* Agents (communes) currently connected, as the server counts them. */
void metrics_set_agents(int64_t n);

/* Store figures, set by whoever reads them (the http module does before each /metrics render). */
void metrics_set_store(uint64_t bytes, uint64_t events, uint64_t version);

/* SSE clients connected: +1 on open, -1 on close (the http module calls it). */
void metrics_sse_clients_add(int delta);

/* One HTTP response with this status code (the http module calls it). */
void metrics_count_http(unsigned status);

/* The whole exposition text; the caller frees it. *len receives its length when len is not NULL. */
char *metrics_render(size_t *len);

/* Sets every value back to zero (unit tests only). */
void metrics_reset(void);

#endif
