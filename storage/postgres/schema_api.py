"""PostgreSQL schema for the client API: the twin of storage/sqlite/schema_api.py.

Same tables, columns and meaning (``mutual migrate-to`` copies them as they are); the
differences are the ones PostgreSQL needs:

- ``actors.rowid``: sqlite numbers every actor with its implicit ``rowid``, which is
  an account's API id. PostgreSQL has no such column, so this migration adds one under
  the same name: a copy that selects ``rowid`` from sqlite keeps every account id that
  apps have cached.
- ``account_stats`` is kept by PL/pgSQL trigger functions doing what sqlite's trigger
  bodies do. A bulk copy into ``statuses`` or ``follows`` fires them too, so a copier
  that also copies ``account_stats`` must disable them while it runs
  (``ALTER TABLE ... DISABLE TRIGGER USER``), or its counts are added twice.
- ``COLLATE NOCASE`` indexes become ``lower(x COLLATE "C")``: under the "C" collation
  ``lower`` folds ASCII letters only, exactly as NOCASE does, whatever the database's
  locale. ``tags.name`` is ``COLLATE "C"`` so prefix scans and ordering compare bytes,
  as sqlite's BINARY does.
- ``jsonb_doc(text)``: the reads look inside stored documents (audiences, mentions).
  PostgreSQL's ``jsonb`` rejects the escape ``\\u0000``, and documents come from other
  servers, so one crafted document would make every page that shows it fail. This
  function rewrites that escape to U+FFFD first; it is inlined by the planner. (sqlite's
  JSON functions end the decoded string at the NUL instead: only a crafted document
  can tell the two apart, and cutting strings in SQL would cost a regex per read.)

Migration 3 in sqlite also derives statuses and counts from rows stored before it
existed. A PostgreSQL database starts empty and reaches version 4 in one go (data comes
later, by ``migrate-to``, with these tables included), so there is nothing to derive.
"""

from __future__ import annotations

__all__ = ["API_MIGRATIONS"]

API_MIGRATIONS: list[tuple[int, str]] = [
    (
        3,
        r"""
        CREATE FUNCTION jsonb_doc(doc TEXT) RETURNS jsonb
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $$ SELECT replace(doc, E'\\u0000', E'\\ufffd')::jsonb $$;

        ALTER TABLE actors ADD COLUMN rowid BIGSERIAL;
        CREATE UNIQUE INDEX actors_rowid ON actors(rowid);

        CREATE TABLE statuses (
            id BIGSERIAL PRIMARY KEY,
            object_id TEXT NOT NULL,
            account TEXT NOT NULL,
            reblog_activity TEXT,
            local INTEGER NOT NULL,
            visibility TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            in_reply_to TEXT,
            media INTEGER NOT NULL DEFAULT 0,
            grp TEXT
        );
        CREATE UNIQUE INDEX statuses_post ON statuses(object_id) WHERE reblog_activity IS NULL;
        CREATE UNIQUE INDEX statuses_boost ON statuses(reblog_activity)
            WHERE reblog_activity IS NOT NULL;
        CREATE INDEX statuses_reblogs ON statuses(object_id, account)
            WHERE reblog_activity IS NOT NULL;
        CREATE INDEX statuses_account ON statuses(account, id);
        CREATE INDEX statuses_replies ON statuses(in_reply_to) WHERE in_reply_to IS NOT NULL;
        CREATE INDEX statuses_public ON statuses(id, local, media)
            WHERE visibility = 'public' AND reblog_activity IS NULL;
        CREATE INDEX statuses_public_local ON statuses(local, id)
            WHERE visibility = 'public' AND reblog_activity IS NULL;
        CREATE INDEX statuses_group ON statuses(grp, id) WHERE grp IS NOT NULL;

        CREATE TABLE home (
            owner TEXT NOT NULL,
            status_id BIGINT NOT NULL,
            PRIMARY KEY (owner, status_id)
        );

        CREATE TABLE tags (
            name TEXT COLLATE "C" NOT NULL,
            status_id BIGINT NOT NULL,
            PRIMARY KEY (name, status_id)
        );

        CREATE TABLE notifications (
            id BIGSERIAL PRIMARY KEY,
            owner TEXT NOT NULL,
            type TEXT NOT NULL,
            account TEXT NOT NULL,
            status_id BIGINT,
            activity_id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (owner, type, activity_id)
        );
        CREATE INDEX notifications_owner ON notifications(owner, id);

        CREATE TABLE bookmarks (
            seq BIGSERIAL PRIMARY KEY,
            owner TEXT NOT NULL,
            status_id BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (owner, status_id)
        );
        CREATE INDEX bookmarks_owner ON bookmarks(owner, seq);

        CREATE TABLE mutes (
            actor TEXT NOT NULL,
            target TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (actor, target)
        );

        CREATE TABLE idempotency (
            account TEXT NOT NULL,
            key TEXT NOT NULL,
            status_object TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (account, key)
        );

        CREATE TABLE poll_votes (
            poll TEXT NOT NULL,
            voter TEXT NOT NULL,
            choice TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (poll, voter, choice)
        );

        CREATE TABLE account_stats (
            actor TEXT PRIMARY KEY,
            statuses BIGINT NOT NULL DEFAULT 0,
            followers BIGINT NOT NULL DEFAULT 0,
            following BIGINT NOT NULL DEFAULT 0,
            last_status_at DOUBLE PRECISION
        );

        CREATE INDEX reactions_actor ON reactions(actor, kind, seq);
        CREATE INDEX follows_follower ON follows(follower, state);
        CREATE INDEX actors_username ON actors(lower(username COLLATE "C"));

        CREATE FUNCTION statuses_counted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO account_stats AS st (actor, statuses, last_status_at)
            VALUES (NEW.account, 1, NEW.created_at)
            ON CONFLICT (actor) DO UPDATE SET statuses = st.statuses + 1,
                last_status_at = GREATEST(COALESCE(st.last_status_at, 0),
                                          EXCLUDED.last_status_at);
            RETURN NULL;
        END $$;
        CREATE TRIGGER statuses_counted AFTER INSERT ON statuses
            FOR EACH ROW EXECUTE FUNCTION statuses_counted();

        CREATE FUNCTION statuses_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE account_stats SET statuses = GREATEST(statuses - 1, 0)
            WHERE actor = OLD.account;
            RETURN NULL;
        END $$;
        CREATE TRIGGER statuses_uncounted AFTER DELETE ON statuses
            FOR EACH ROW EXECUTE FUNCTION statuses_uncounted();

        CREATE FUNCTION objects_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE account_stats SET statuses = GREATEST(statuses - 1, 0)
            WHERE actor = OLD.attributed_to AND EXISTS (
                SELECT 1 FROM statuses WHERE object_id = OLD.id AND reblog_activity IS NULL);
            RETURN NULL;
        END $$;
        CREATE TRIGGER objects_deleted AFTER UPDATE OF deleted_at ON objects
            FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
            EXECUTE FUNCTION objects_deleted();

        CREATE FUNCTION follows_counted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO account_stats AS st (actor, followers) VALUES (NEW.followee, 1)
            ON CONFLICT (actor) DO UPDATE SET followers = st.followers + 1;
            INSERT INTO account_stats AS st (actor, following) VALUES (NEW.follower, 1)
            ON CONFLICT (actor) DO UPDATE SET following = st.following + 1;
            RETURN NULL;
        END $$;
        CREATE TRIGGER follows_added AFTER INSERT ON follows
            FOR EACH ROW WHEN (NEW.state = 'accepted') EXECUTE FUNCTION follows_counted();
        CREATE TRIGGER follows_accepted AFTER UPDATE OF state ON follows
            FOR EACH ROW WHEN (OLD.state <> 'accepted' AND NEW.state = 'accepted')
            EXECUTE FUNCTION follows_counted();

        CREATE FUNCTION follows_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE account_stats SET followers = GREATEST(followers - 1, 0)
            WHERE actor = OLD.followee;
            UPDATE account_stats SET following = GREATEST(following - 1, 0)
            WHERE actor = OLD.follower;
            RETURN NULL;
        END $$;
        CREATE TRIGGER follows_removed AFTER DELETE ON follows
            FOR EACH ROW WHEN (OLD.state = 'accepted') EXECUTE FUNCTION follows_uncounted();
        """,
    ),
]
