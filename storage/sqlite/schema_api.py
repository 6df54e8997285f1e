"""sqlite schema for the client API (statuses, home feeds, notifications...).

``statuses`` numbers what apps call a status: one row per post (unique while
``reblog_activity`` is NULL) and one per boost. Its ids are the API's status ids, so
every timeline is a descending range scan over an integer key. The rows are derived
from the ActivityPub tables by the write interpreters (storage/sqlite/api.py); a
deleted post keeps its row (its id is never reused) and is filtered out on read.

``account_stats`` keeps the counts an Account entity shows, maintained by triggers so
that no write path has to remember them and no read has to count.

Existing data is carried over: statuses for the posts already stored (poll votes, which
are Notes with a ``name`` and no content, are not statuses), boosts, and counts.
"""

from __future__ import annotations

_STATUS_TYPES = "('Note','Article','Page','Question','Image','Video','Event','Audio')"

API_MIGRATIONS: list[tuple[int, str]] = [
    (
        3,
        f"""
        CREATE TABLE statuses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            object_id TEXT NOT NULL,
            account TEXT NOT NULL,
            reblog_activity TEXT,
            local INTEGER NOT NULL,
            visibility TEXT NOT NULL,
            created_at REAL NOT NULL,
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
            status_id INTEGER NOT NULL,
            PRIMARY KEY (owner, status_id)
        ) WITHOUT ROWID;

        CREATE TABLE tags (
            name TEXT NOT NULL,
            status_id INTEGER NOT NULL,
            PRIMARY KEY (name, status_id)
        ) WITHOUT ROWID;

        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            owner TEXT NOT NULL,
            type TEXT NOT NULL,
            account TEXT NOT NULL,
            status_id INTEGER,
            activity_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (owner, type, activity_id)
        );
        CREATE INDEX notifications_owner ON notifications(owner, id);

        CREATE TABLE bookmarks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            owner TEXT NOT NULL,
            status_id INTEGER NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (owner, status_id)
        );
        CREATE INDEX bookmarks_owner ON bookmarks(owner, seq);

        CREATE TABLE mutes (
            actor TEXT NOT NULL,
            target TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (actor, target)
        ) WITHOUT ROWID;

        CREATE TABLE idempotency (
            account TEXT NOT NULL,
            key TEXT NOT NULL,
            status_object TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (account, key)
        ) WITHOUT ROWID;

        CREATE TABLE poll_votes (
            poll TEXT NOT NULL,
            voter TEXT NOT NULL,
            choice TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (poll, voter, choice)
        ) WITHOUT ROWID;

        CREATE TABLE account_stats (
            actor TEXT PRIMARY KEY,
            statuses INTEGER NOT NULL DEFAULT 0,
            followers INTEGER NOT NULL DEFAULT 0,
            following INTEGER NOT NULL DEFAULT 0,
            last_status_at REAL
        ) WITHOUT ROWID;

        CREATE INDEX reactions_actor ON reactions(actor, kind, seq);
        CREATE INDEX follows_follower ON follows(follower, state);
        CREATE INDEX actors_username ON actors(username COLLATE NOCASE);

        CREATE TRIGGER statuses_counted AFTER INSERT ON statuses BEGIN
            INSERT INTO account_stats (actor, statuses, last_status_at)
            VALUES (NEW.account, 1, NEW.created_at)
            ON CONFLICT (actor) DO UPDATE SET statuses = statuses + 1,
                last_status_at = MAX(COALESCE(last_status_at, 0), excluded.last_status_at);
        END;
        CREATE TRIGGER statuses_uncounted AFTER DELETE ON statuses BEGIN
            UPDATE account_stats SET statuses = MAX(statuses - 1, 0) WHERE actor = OLD.account;
        END;
        CREATE TRIGGER objects_deleted AFTER UPDATE OF deleted_at ON objects
        WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL BEGIN
            UPDATE account_stats SET statuses = MAX(statuses - 1, 0)
            WHERE actor = OLD.attributed_to AND EXISTS (
                SELECT 1 FROM statuses WHERE object_id = OLD.id AND reblog_activity IS NULL);
        END;
        CREATE TRIGGER follows_added AFTER INSERT ON follows WHEN NEW.state = 'accepted' BEGIN
            INSERT INTO account_stats (actor, followers) VALUES (NEW.followee, 1)
            ON CONFLICT (actor) DO UPDATE SET followers = followers + 1;
            INSERT INTO account_stats (actor, following) VALUES (NEW.follower, 1)
            ON CONFLICT (actor) DO UPDATE SET following = following + 1;
        END;
        CREATE TRIGGER follows_removed AFTER DELETE ON follows WHEN OLD.state = 'accepted' BEGIN
            UPDATE account_stats SET followers = MAX(followers - 1, 0) WHERE actor = OLD.followee;
            UPDATE account_stats SET following = MAX(following - 1, 0) WHERE actor = OLD.follower;
        END;
        CREATE TRIGGER follows_accepted AFTER UPDATE OF state ON follows
        WHEN OLD.state <> 'accepted' AND NEW.state = 'accepted' BEGIN
            INSERT INTO account_stats (actor, followers) VALUES (NEW.followee, 1)
            ON CONFLICT (actor) DO UPDATE SET followers = followers + 1;
            INSERT INTO account_stats (actor, following) VALUES (NEW.follower, 1)
            ON CONFLICT (actor) DO UPDATE SET following = following + 1;
        END;

        INSERT INTO statuses (object_id, account, local, visibility, created_at, in_reply_to,
                              grp)
        SELECT id, attributed_to, local, visibility, created_at, in_reply_to,
               CASE json_type(document, '$.audience')
                   WHEN 'text' THEN json_extract(document, '$.audience') END
        FROM objects
        WHERE type IN {_STATUS_TYPES} AND attributed_to IS NOT NULL
          AND NOT (in_reply_to IS NOT NULL AND json_type(document, '$.name') = 'text'
                   AND COALESCE(json_extract(document, '$.content'), '') = '')
        ORDER BY seq;
        INSERT OR IGNORE INTO statuses (object_id, account, reblog_activity, local, visibility,
                                        created_at)
        SELECT r.object_id, r.actor, r.activity_id, COALESCE(a.local, 0),
               COALESCE(a.visibility, 'public'), r.created_at
        FROM reactions r LEFT JOIN activities a ON a.id = r.activity_id
        WHERE r.kind = 'announce' ORDER BY r.seq;
        INSERT OR IGNORE INTO account_stats (actor, followers)
        SELECT followee, COUNT(*) FROM follows WHERE state = 'accepted' GROUP BY followee;
        INSERT INTO account_stats (actor, following)
        SELECT follower, COUNT(*) FROM follows WHERE state = 'accepted' GROUP BY follower
        ON CONFLICT (actor) DO UPDATE SET following = excluded.following
        """,
    ),
]
