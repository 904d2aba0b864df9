/* Baseline for bench_agent_rss.py: a minimal C program linked with the same libraries as dk-agent
 * (it touches each so the dynamic loader maps it), which then waits to be measured and killed.
 * dk-link: dkagent */
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "doanket.pb-c.h"

int main(void)
{
    int a, b, c;
    zmq_version(&a, &b, &c);
    if (sodium_init() < 0) {
        return 1;
    }
    printf("zmq %d.%d.%d uv %s lmdb %s protobuf-c %s\n", a, b, c, uv_version_string(),
           mdb_version(NULL, NULL, NULL), protobuf_c_version());
    fflush(stdout);
    pause();
    return 0;
}
