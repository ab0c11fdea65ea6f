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
-- Expected once fixed: distinct rows stay distinct in the store.
--
-- KNOWN HOLE, NOT FIXED YET: the four checks below are pgTAP TODO tests.
-- They fail today and are reported as "not ok ... # TODO"; pg_prove counts
-- a TODO test that starts passing as "unexpectedly succeeded", which is the
-- sign to drop the todo() lines.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(5);

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
SELECT mlops.snapshot('public.rh_events', 'day 2') AS s2 \gset
SELECT mlops.snapshot_restore(:s2, 'public.rh_day2');
SELECT todo('row hashes inside one store can be forged (docs/snapshots.md, "Identity and sharing")', 3);
SELECT results_eq('SELECT a, b FROM public.rh_day2', $$VALUES (1::int8, 2::int8)$$,
                  'the day-2 snapshot restores the genuine row, not the planted twin');
SELECT is((SELECT same_content_as FROM mlops.snapshots WHERE id = :s2), NULL::bigint,
          'different data is not reported as the same content');
SELECT results_eq(format('SELECT added, removed FROM mlops.snapshot_diff(%s, %s)', :s1, :s2),
                  $$VALUES (1::bigint, 1::bigint)$$,
                  'the diff between the two days sees the row replaced');

-- both rows at once: one of them is lost
INSERT INTO public.rh_events VALUES (3, -6235918153440853593);
SELECT mlops.snapshot('public.rh_events') AS s3 \gset
SELECT mlops.snapshot_restore(:s3, 'public.rh_both');
SELECT todo('row hashes inside one store can be forged (docs/snapshots.md, "Identity and sharing")', 1);
SELECT is((SELECT count(DISTINCT (a, b)) FROM public.rh_both), 2::bigint,
          'two distinct rows restore as two distinct rows');
RESET ROLE;

SELECT is((SELECT 1), 1, 'the server is up');
SELECT * FROM finish();
ROLLBACK;
