/* store_backup — a live compacted copy of the store, checked and marked "restored" before it
 * gets its real name (its first read-write open makes a new epoch). Contract in store.h. */
#define LOG_TAG "store"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "store_int.h"
#include "xmalloc.h"

/* ---- backup ------------------------------------------------------------------------------- */
static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* 1: dir exists and is empty; 0: missing; -1: exists and is not an empty folder. */
static int dir_state(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return errno == ENOENT ? 0 : -1;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n == 0 ? 1 : -1;
}

static void remove_tmp(const char *tmp)
{
    char *f = xasprintf("%s/data.mdb", tmp);
    unlink(f);
    free(f);
    f = xasprintf("%s/lock.mdb", tmp);
    unlink(f);
    free(f);
    rmdir(tmp);
}

/* Opens the fresh copy in folder tmp on its own (a separate env on other files, not the same env
 * twice; MDB_NOLOCK: nobody else knows the folder yet, and no lock file is left in it), reads its
 * version into *version and writes meta "restored" = 1 in one synced txn: the first read-write
 * store_open of the copy makes a new epoch (store.h). Returns 0 or an LMDB code. */
static int mark_copy(const char *tmp, uint64_t *version)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    int rc = mdb_env_create(&env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, STORE_NDBI + 4);
    }
    if (rc == 0) {
        rc = mdb_env_open(env, tmp, MDB_NOLOCK | MDB_NOTLS, 0640);
    }
    if (rc == 0) {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta);
    }
    if (rc == 0) {
        MDB_val k = {7, "version"}, v;
        rc = mdb_get(txn, meta, &k, &v);
        *version = rc == 0 && v.mv_size == 8 ? st_get_u64(v.mv_data) : 0;
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0) {
        uint8_t one[8];
        st_put_u64(one, 1);
        MDB_val k = {8, "restored"}, v = {8, one};
        rc = mdb_put(txn, meta, &k, &v, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    if (env) {
        mdb_env_close(env);
    }
    return rc;
}

int store_backup(store_t *self, const char *dir)
{
    int st = dir_state(dir);
    if (st < 0) {
        log_error("backup dir=%s: exists and is not an empty folder", dir);
        return DK_EEXIST;
    }
    char *dcopy = xstrdup(dir), *bcopy = xstrdup(dir);
    char *parent = xstrdup(dirname(dcopy));
    char *base = xstrdup(basename(bcopy));
    free(dcopy);
    free(bcopy);
    char *tmp = xasprintf("%s/.%s.tmp.%ld", parent, base, (long)getpid());
    int ret = 0;
    uint64_t before = store_version(self);
    remove_tmp(tmp);
    if (mkdir(tmp, 0750) != 0) {
        log_error("backup dir=%s: cannot make %s: %s", dir, tmp, strerror(errno));
        ret = DK_EIO;
        goto done;
    }
    /* mdb_env_copy2 takes its own read txn: hold the shared lock so a map resize waits. */
    st_lock_shared(self);
    int rc = mdb_env_copy2(self->env, tmp, MDB_CP_COMPACT);
    st_unlock_shared(self);
    if (rc != 0) {
        log_error("backup dir=%s: copy: %s", dir, mdb_strerror(rc));
        ret = DK_ESTORE;
        goto fail;
    }
    /* Check and mark the copy before it gets its real name, so a bad or unmarked copy is never
     * left under dir. */
    uint64_t got = 0;
    if ((rc = mark_copy(tmp, &got)) != 0) {
        log_error("backup dir=%s: the copy in %s does not open or take its mark: %s", dir, tmp,
                  mdb_strerror(rc));
        ret = DK_ESTORE;
        goto fail;
    }
    if (got < before) {
        log_error("backup dir=%s: the copy has version %llu, the store had %llu", dir,
                  (unsigned long long)got, (unsigned long long)before);
        ret = DK_EMISMATCH;
        goto fail;
    }
    char *data = xasprintf("%s/data.mdb", tmp);
    rc = fsync_path(data, false);
    free(data);
    if (rc != 0 || fsync_path(tmp, true) != 0) {
        log_error("backup dir=%s: fsync: %s", dir, strerror(errno));
        ret = DK_EIO;
        goto fail;
    }
    if (st == 1 && rmdir(dir) != 0) {
        log_error("backup dir=%s: %s", dir, strerror(errno));
        ret = DK_EIO;
        goto fail;
    }
    if (rename(tmp, dir) != 0) {
        log_error("backup dir=%s: rename from %s: %s", dir, tmp, strerror(errno));
        ret = DK_EIO;
        goto fail;
    }
    fsync_path(parent, true);
    log_info("backup dir=%s version=%llu (marked restored: a new epoch at its first read-write "
             "open)",
             dir, (unsigned long long)got);
    goto done;
fail:
    remove_tmp(tmp);
done:
    free(tmp);
    free(parent);
    free(base);
    return ret;
}
