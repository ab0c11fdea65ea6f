-- Snapshots across roles (issue #11): nothing a role snapshots is shared
-- with, shown to or forgeable by a role without its privileges, and no user
-- type can change or crash the store.
--
-- Three roles: sns_owner takes a snapshot of its secret rows, sns_grantee is
-- a member of sns_owner, sns_stranger only has CREATE on schema public.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(24);

CREATE ROLE sns_owner;
CREATE ROLE sns_grantee IN ROLE sns_owner;
CREATE ROLE sns_stranger;
GRANT CREATE ON SCHEMA public TO sns_owner, sns_stranger;

-- ---------------------------------------------------------------------------
-- The row hash of a one-column bigint row, as src/core/rowhash.c computes it,
-- and its inverse: the bigint whose row has a given hash.  Unsigned 64-bit
-- arithmetic in numeric; xor and shifts through bit(64).
-- ---------------------------------------------------------------------------
CREATE SCHEMA sns_u;
CREATE FUNCTION sns_u.b(x numeric) RETURNS bit(64) LANGUAGE sql IMMUTABLE AS
$$ SELECT (CASE WHEN x >= 9223372036854775808 THEN x - 18446744073709551616 ELSE x END)::bigint::bit(64) $$;
CREATE FUNCTION sns_u.n(x bit(64)) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN x::bigint < 0 THEN x::bigint + 18446744073709551616 ELSE x::bigint END $$;
CREATE FUNCTION sns_u.xor(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT sns_u.n(sns_u.b(a) # sns_u.b(b)) $$;
CREATE FUNCTION sns_u.shr(a numeric, s int) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT sns_u.n(sns_u.b(a) >> s) $$;
CREATE FUNCTION sns_u.mul(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT mod(a * b, 18446744073709551616) $$;
-- SplitMix64's finaliser and its inverse
CREATE FUNCTION sns_u.mix(h numeric) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    h := sns_u.xor(h, sns_u.shr(h, 30));
    h := sns_u.mul(h, 13787848793156543929);
    h := sns_u.xor(h, sns_u.shr(h, 27));
    h := sns_u.mul(h, 10723151780598845931);
    RETURN sns_u.xor(h, sns_u.shr(h, 31));
END $$;
CREATE FUNCTION sns_u.unxorshift(y numeric, s int) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    x numeric := y;
BEGIN
    FOR i IN 0 .. 64 / s LOOP
        x := sns_u.xor(y, sns_u.shr(x, s));
    END LOOP;
    RETURN x;
END $$;
CREATE FUNCTION sns_u.unmix(h numeric) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    h := sns_u.unxorshift(h, 31);
    h := sns_u.mul(h, 3573116690164977347);     -- inverse of 10723151780598845931
    h := sns_u.unxorshift(h, 27);
    h := sns_u.mul(h, 10871156337175269513);    -- inverse of 13787848793156543929
    RETURN sns_u.unxorshift(h, 30);
END $$;
-- row hash of (v): Mix64(hash_combine64(seed, Mix64(v ^ golden)))
CREATE FUNCTION sns_u.rowhash(v bigint) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
SELECT sns_u.mix(sns_u.xor(2611923443488327891,
                           mod(sns_u.mix(sns_u.xor(sns_u.n(v::bit(64)), 11400714819323198485))
                               + 9126953328837717748, 18446744073709551616)))
$$;
CREATE FUNCTION sns_u.solve(t numeric) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
SELECT sns_u.b(sns_u.xor(sns_u.unmix(mod(sns_u.xor(sns_u.unmix(t), 2611923443488327891)
                                          - 9126953328837717748 + 18446744073709551616,
                                          18446744073709551616)),
                         11400714819323198485))::bigint
$$;
CREATE FUNCTION sns_u.hex(h text) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT sns_u.n(('x' || h)::bit(64)) $$;

-- ---------------------------------------------------------------------------
-- the victim's snapshot
-- ---------------------------------------------------------------------------
SET ROLE sns_owner;
CREATE TABLE sns_secret (a bigint);
INSERT INTO sns_secret VALUES (1001), (1002), (1003);
SELECT mlops.snapshot('sns_secret') AS victim \gset
RESET ROLE;
SELECT content_hash AS vhash FROM mlops.snapshots WHERE id = :victim \gset
SELECT is(sns_u.hex(:'vhash'),
          (SELECT mod(sum(sns_u.rowhash(a)), 18446744073709551616) FROM sns_secret),
          'the content hash is the sum of the row hashes this test computes');

-- ---------------------------------------------------------------------------
-- a stranger sees nothing of it; a member of the owner sees it all
-- ---------------------------------------------------------------------------
SET ROLE sns_stranger;
SELECT is((SELECT count(*) FROM mlops.snapshots WHERE id = :victim), 0::bigint,
          'a stranger sees no row of another role''s snapshot in mlops.snapshots');
SELECT is((SELECT count(*) FROM mlops.snapshot_catalog WHERE id = :victim), 0::bigint,
          'nor in mlops.snapshot_catalog');
SELECT is((SELECT count(*) FROM mlops.snapshot_storage WHERE owner = 'sns_owner'::regrole)
        + (SELECT count(*) FROM mlops.snapshot_stores WHERE owner = 'sns_owner'::regrole), 0::bigint,
          'nor any of its stores');
SELECT throws_ok(format($$SELECT mlops.snapshot_restore(%s, 'sns_stolen')$$, :victim), '42501', NULL,
                 'nor can restore it');
SET ROLE sns_grantee;
SELECT is((SELECT content_hash FROM mlops.snapshots WHERE id = :victim), :'vhash',
          'a member of the owning role sees the snapshot and its content hash');
SELECT is(mlops.snapshot_restore(:victim, 'sns_granted'), 3::bigint, 'and may restore it');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- a forged content: two rows of the stranger's choice and a third solved so
-- that the row count and the content hash equal the victim's
-- ---------------------------------------------------------------------------
SELECT sns_u.solve(mod(sns_u.hex(:'vhash') - sns_u.rowhash(1) - sns_u.rowhash(2)
                       + 2 * 18446744073709551616, 18446744073709551616)) AS solved \gset
SET ROLE sns_stranger;
CREATE TABLE sns_forged (a bigint);
INSERT INTO sns_forged VALUES (1), (2), (:solved);
SELECT mlops.snapshot('sns_forged') AS forged \gset
RESET ROLE;
SELECT is((SELECT content_hash FROM mlops.snapshots WHERE id = :forged), :'vhash',
          'the forged table has the victim''s row count and content hash');
SELECT isnt((SELECT content FROM mlops.snapshot_catalog WHERE id = :forged),
            (SELECT content FROM mlops.snapshot_catalog WHERE id = :victim),
            'but its snapshot is not linked to the victim''s content');
SET ROLE sns_stranger;
SELECT is(mlops.snapshot_restore(:forged, 'sns_forged_r'), 3::bigint, 'the forged snapshot restores');
SELECT is((SELECT array_agg(a ORDER BY a) FROM sns_forged_r), (SELECT array_agg(a ORDER BY a) FROM sns_forged),
          'to the stranger''s own rows, not the victim''s');

-- the same rows in two roles' tables share no storage
CREATE TABLE sns_copy (a bigint);
INSERT INTO sns_copy VALUES (1001), (1002), (1003);
SELECT mlops.snapshot('sns_copy') AS copy \gset
SELECT is((SELECT same_content_as FROM mlops.snapshots WHERE id = :copy), NULL,
          'a copy of another role''s rows is not shown as the same content');
RESET ROLE;
SELECT results_eq(format($$SELECT c.store <> v.store, c.content <> v.content, c.owner::text
                             FROM (SELECT s.content, k.store, s.owner FROM mlops.snapshot_catalog s
                                     JOIN mlops.snapshot_contents k ON k.id = s.content WHERE s.id = %s) c,
                                  (SELECT s.content, k.store FROM mlops.snapshot_catalog s
                                     JOIN mlops.snapshot_contents k ON k.id = s.content WHERE s.id = %s) v$$,
                          :copy, :victim),
                  $$VALUES (true, true, 'sns_stranger')$$,
                  'equal rows of two roles are stored apart, in a store of each role');

-- ---------------------------------------------------------------------------
-- owners are recorded by OID: a new role of the old name gets nothing
-- ---------------------------------------------------------------------------
ALTER ROLE sns_owner RENAME TO sns_renamed;
CREATE ROLE sns_owner;
SET ROLE sns_owner;
SELECT is((SELECT count(*) FROM mlops.snapshots WHERE id = :victim), 0::bigint,
          'a new role with the owner''s old name does not see the snapshot');
SELECT throws_ok(format('SELECT mlops.drop_snapshot(%s)', :victim), '42501', NULL,
                 'and may not drop it');
SET ROLE sns_renamed;
SELECT is(mlops.snapshot_restore(:victim, 'sns_renamed_r'), 3::bigint,
          'the renamed owner still reads its snapshot');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- a domain dropped and created again over another type: a clear error, the
-- store untouched, the server up
-- ---------------------------------------------------------------------------
SET ROLE sns_stranger;
CREATE DOMAIN sns_dom AS float8;
CREATE TABLE sns_dt (x sns_dom, k int);
INSERT INTO sns_dt VALUES (1.5, 1), (-2.25, 2);
SELECT mlops.snapshot('sns_dt') AS ds \gset
DROP DOMAIN sns_dom CASCADE;
CREATE DOMAIN sns_dom AS text;
SELECT throws_ok(format($$SELECT mlops.snapshot_restore(%s, 'sns_dt_r')$$, :ds), '42804', NULL,
                 'restoring into a type that changed meaning is a datatype mismatch');
SELECT is((SELECT 1 + 1), 2, 'and the server is still up');
RESET ROLE;
SELECT is((SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
             FROM mlops.snapshot_catalog s JOIN mlops.snapshot_contents c ON c.id = s.content
             JOIN pg_attribute a ON a.attrelid = format('mlops.snapshot_rows_%s', c.store)::regclass
            WHERE s.id = :ds AND a.attnum > 0 AND NOT a.attisdropped),
          ARRAY['bigint', 'double precision', 'integer'],
          'a plain role''s DROP DOMAIN ... CASCADE leaves the store''s columns alone');
SET ROLE sns_stranger;
DROP DOMAIN sns_dom;
CREATE DOMAIN sns_dom AS float8 CHECK (VALUE < 10);
SELECT is(mlops.snapshot_restore(:ds, 'sns_dt_r'), 2::bigint, 'with the domain back, the snapshot restores');
SELECT is((SELECT array_agg(x::float8 ORDER BY k) FROM sns_dt_r), ARRAY[1.5, -2.25]::float8[],
          'to the rows it froze');
DROP TABLE sns_dt_r;
DROP DOMAIN sns_dom CASCADE;
CREATE DOMAIN sns_dom AS float8 CHECK (VALUE > 0);
SELECT throws_ok(format($$SELECT mlops.snapshot_restore(%s, 'sns_dt_r')$$, :ds), '23514', NULL,
                 'a domain constraint the rows break is checked on restore');

-- an enum (a type a user can drop) is stored as text: dropping it leaves the
-- store alone, and the labels come back into the new type
CREATE TYPE sns_mood AS ENUM ('sad', 'happy');
CREATE TABLE sns_et (m sns_mood, ms sns_mood[]);
INSERT INTO sns_et VALUES ('happy', '{happy,sad}'), (NULL, NULL);
SELECT mlops.snapshot('sns_et') AS es \gset
DROP TYPE sns_mood CASCADE;
CREATE TYPE sns_mood AS ENUM ('happy', 'meh', 'sad');
SELECT is(mlops.snapshot_restore(:es, 'sns_et_r'), 2::bigint, 'a snapshot of a dropped enum restores');
SELECT is((SELECT array_agg(concat_ws('/', m, ms) ORDER BY m NULLS LAST) FROM sns_et_r),
          ARRAY['happy/{happy,sad}', ''],
          'with its labels, into the enum of that name now');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
