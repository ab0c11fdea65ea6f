-- Attack: forge snapshot content identity with constructed row-hash
-- collisions.  A store keeps one row per 64-bit row hash and takes rows
-- with equal hashes to be equal (docs/snapshots.md puts the chance at
-- 3e-8 per million rows), and a content's identity is the SHA-256 of its
-- row hashes.  But MlopsRowHash (src/core/rowhash.c) is built from
-- SplitMix64 rounds and hash_combine64, all invertible: for any row, a
-- different row with the same hash is computed in O(1) (here: (3, b) with
-- b solved for the row (1, 2)).  A role that may insert rows into a table
-- that the victim snapshots plants the twin first; the victim's later
-- snapshot of the genuine row then restores, trains and reproduces as the
-- attacker's row, and reports the same content as before.
-- The fix: each store has a secret key, each row a keyed check hash over
-- its stored values, and each content the sum of its rows' check hashes
-- (src/snapshot/snapshot_check.c).  A snapshot that would take the genuine
-- row for the stored twin (or the twin for the genuine row) is refused
-- with XX001 instead of recording the wrong row.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(10);

CREATE ROLE rh_owner;
CREATE ROLE rh_app;
GRANT CREATE ON SCHEMA public TO rh_owner;

SET ROLE rh_owner;
CREATE TABLE public.rh_events (a int8, b int8);
-- an application role writes the events the owner snapshots
GRANT INSERT, DELETE, SELECT ON public.rh_events TO rh_app;
RESET ROLE;

-- the twin of (1, 2), computed offline from rowhash.c's formulas
SET ROLE rh_app;
INSERT INTO public.rh_events VALUES (3, -6235918153440853593);
RESET ROLE;

SET ROLE rh_owner;
SELECT mlops.snapshot('public.rh_events', 'day 1') AS s1 \gset
RESET ROLE;

SET ROLE rh_app;
DELETE FROM public.rh_events;
INSERT INTO public.rh_events VALUES (1, 2);
RESET ROLE;

SET ROLE rh_owner;
SELECT throws_ok($$SELECT mlops.snapshot('public.rh_events', 'day 2')$$, 'XX001',
                 'snapshot of public.rh_events refused: a row has the same row hash as a different stored row',
                 'the day-2 snapshot of the genuine row is refused, not recorded as the planted twin');
SELECT is((SELECT count(*) FROM mlops.snapshots WHERE relation = 'public.rh_events'), 1::bigint,
          'the refused snapshot left no catalog row');

-- both rows at once, in either order of reading: refused, nothing is lost silently
INSERT INTO public.rh_events VALUES (3, -6235918153440853593);
SELECT throws_ok($$SELECT mlops.snapshot('public.rh_events')$$, 'XX001', NULL,
                 'a snapshot of the genuine row and its twin is refused');
RESET ROLE;

-- a first snapshot into a new store holding both rows at once
CREATE ROLE rh_other;
GRANT CREATE ON SCHEMA public TO rh_other;
GRANT SELECT ON public.rh_events TO rh_other;
SET ROLE rh_other;
SELECT throws_ok($$SELECT mlops.snapshot('public.rh_events')$$, 'XX001', NULL,
                 'a first snapshot of the genuine row and its twin is refused');
RESET ROLE;

-- the genuine row alone, into the new store: fine, and it restores as itself
SET ROLE rh_app;
DELETE FROM public.rh_events WHERE a = 3;
RESET ROLE;
SET ROLE rh_other;
SELECT mlops.snapshot('public.rh_events') AS s4 \gset
SELECT mlops.snapshot_restore(:s4, 'public.rh_genuine');
SELECT results_eq('SELECT a, b FROM public.rh_genuine', $$VALUES (1::int8, 2::int8)$$,
                  'an honest snapshot restores the genuine row');
RESET ROLE;

-- a change that also removes rows: the removed rows are read back from the
-- store to check the rows kept
SET ROLE rh_owner;
CREATE TABLE public.rh_events2 (a int8, b int8);
INSERT INTO public.rh_events2 VALUES (3, -6235918153440853593), (7, 7);
SELECT mlops.snapshot('public.rh_events2') IS NOT NULL AS taken;
DELETE FROM public.rh_events2;
INSERT INTO public.rh_events2 VALUES (1, 2), (8, 8);
SELECT throws_ok($$SELECT mlops.snapshot('public.rh_events2')$$, 'XX001', NULL,
                 'a changed snapshot that keeps the twin''s hash for the genuine row is refused');
DELETE FROM public.rh_events2 WHERE a = 1;
SELECT lives_ok($$SELECT mlops.snapshot('public.rh_events2')$$,
                'the same change without the genuine row is taken');
RESET ROLE;

-- the key stays hidden from the store's owner and everyone else
SET ROLE rh_owner;
SELECT throws_ok('SELECT check_key FROM mlops.snapshot_stores', '42501', NULL,
                 'no role reads a store''s check key');
RESET ROLE;

-- the same through training: its second training finds the first snapshot
-- by content hash and row count, which the twin leaves unchanged; the
-- version must not record the snapshot that holds the twin
CREATE ROLE rh_trainer;
GRANT CREATE ON SCHEMA public TO rh_trainer;
SET ROLE rh_trainer;
CREATE TABLE public.rh_train (a int8, b int8);
INSERT INTO public.rh_train SELECT i, 2 * i + 1 FROM generate_series(10, 60) i;
INSERT INTO public.rh_train VALUES (3, -6235918153440853593);
SELECT version AS v1 FROM mlops.train('rh_p', 'public.rh_train', 'b', deploy => 'never') \gset
DELETE FROM public.rh_train WHERE a = 3;
INSERT INTO public.rh_train VALUES (1, 2);
SELECT throws_ok($$SELECT mlops.train('rh_p', 'public.rh_train', 'b', deploy => 'never')$$, 'XX001', NULL,
                 'a training on the genuine row does not record the snapshot holding its twin');
RESET ROLE;

SELECT is((SELECT 1), 1, 'the server is up');
SELECT * FROM finish();
ROLLBACK;
