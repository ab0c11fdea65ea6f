-- A model written by format version 1 is read back from a fixed byte string:
-- later releases must keep reading these bytes.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(10);

-- linear model of y on x (float8) and c (text, one-hot u/v), trained by
-- mlops 0.1; its explain() gave intercept 1.020930921463858,
-- x 2.0000267965365612, c=u 0.49713907565537524.
\set fixed '\\x4d4c4f50534d444c0100010047010000dba81a4001000000000000000002000000010000007810000000646f75626c6520707265636973696f6e0161b9a711967b344000000000010000006304000000746578740300000000000000000200000001000000750100000076040000000000000000000000000000000000000000000000000000000000000000000000000000000000f03f000000000000f03f000000000000f03f000000000000f03f000000000000000014000000409972a9bb55f03f44fc910c0e0000407339e06920d1df3f00000000000000000000000000000000413b7fa3665d7a3f5a206d66654a313f6e0ca631271b783f000000000000f87f000000000000f87f0000000000003a4092a0fd0382fc8f3f7732c3b625b02640c1e6afac0546e03fc1e6afac0546e03f000000000000000000000000000000000000000000000000000000000000f03f000000000000f03f'

INSERT INTO mlops.projects (name, task, target, key_metric) VALUES ('fixed_bytes', 'regression', 'y', 'r2');
INSERT INTO mlops.model_versions
    (project, version, algorithm, features, target, train_rows, test_rows, test_size,
     training_seconds, trained_by, extension_version, model, model_sha256)
VALUES ('fixed_bytes', 1, 'linear', '[]', 'y', 30, 10, 0.25, 0, current_user, '0.1',
        :'fixed'::bytea, sha256(:'fixed'::bytea)),
       ('fixed_bytes', 2, 'linear', '[]', 'y', 30, 10, 0.25, 0, current_user, '0.1',
        set_byte(:'fixed'::bytea, 8, 3), sha256(set_byte(:'fixed'::bytea, 8, 3))),
       ('fixed_bytes', 3, 'linear', '[]', 'y', 30, 10, 0.25, 0, current_user, '0.1',
        set_byte(:'fixed'::bytea, 60, 255), sha256(set_byte(:'fixed'::bytea, 60, 255))),
       ('fixed_bytes', 4, 'linear', '[]', 'y', 30, 10, 0.25, 0, current_user, '0.1',
        '\x00010203', sha256('\x00010203'::bytea)),
       ('fixed_bytes', 5, 'linear', '[]', 'y', 30, 10, 0.25, 0, current_user, '0.1',
        substring(:'fixed'::bytea from 1 for 100), sha256(substring(:'fixed'::bytea from 1 for 100)));

-- bytes with a valid checksum whose parts do not fit together: the fixed
-- model with its last parameter cut off, the count and the header's length
-- and CRC-32C made to match (found by fuzz/fuzz_model.c: explain() and
-- predict() read past the parameters)
CREATE FUNCTION pg_temp.le32(v bigint) RETURNS bytea LANGUAGE sql AS
$$ SELECT set_byte(set_byte(set_byte(set_byte('\x00000000'::bytea, 0, (v & 255)::int),
          1, ((v >> 8) & 255)::int), 2, ((v >> 16) & 255)::int), 3, ((v >> 24) & 255)::int) $$;
CREATE FUNCTION pg_temp.crc32c(b bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    crc bigint := 4294967295;
BEGIN
    FOR i IN 0 .. length(b) - 1 LOOP
        crc := crc # get_byte(b, i);
        FOR k IN 1 .. 8 LOOP
            crc := CASE WHEN crc & 1 = 1 THEN (crc >> 1) # 2197175160 ELSE crc >> 1 END;
        END LOOP;
    END LOOP;
    RETURN crc # 4294967295;
END $$;
SELECT substring(:'fixed'::bytea from 21 for 163) || pg_temp.le32(19)
       || substring(:'fixed'::bytea from 188 for 19 * 8) AS payload \gset
INSERT INTO mlops.model_versions
    (project, version, algorithm, features, target, train_rows, test_rows, test_size,
     training_seconds, trained_by, extension_version, model, model_sha256)
SELECT 'fixed_bytes', 6, 'linear', '[]', 'y', 30, 10, 0.25, 0, current_user, '0.1', m, sha256(m)
FROM (SELECT substring(:'fixed'::bytea from 1 for 12) || pg_temp.le32(length(:'payload'::bytea))
             || pg_temp.le32(pg_temp.crc32c(:'payload'::bytea)) || :'payload'::bytea AS m) t;

SELECT is((SELECT round(coefficient::numeric, 12) FROM mlops.explain('fixed_bytes', 1) WHERE term = 'x'),
          2.000026796537, 'the coefficient of x is read back');
SELECT is((SELECT round(coefficient::numeric, 12) FROM mlops.explain('fixed_bytes', 1) WHERE term = 'c=u'),
          0.497139075655, 'the one-hot coefficient of c=u is read back');
SELECT ok(abs(mlops.predict('fixed_bytes', s, 1)
              - (1.020930921463858 + 2.0000267965365612 * 3 + 0.49713907565537524)) < 1e-12,
          'scoring the fixed bytes gives the closed-form prediction')
  FROM (SELECT 3.0::float8 AS x, 'u'::text AS c) s;
SELECT ok(abs(mlops.predict('fixed_bytes', s, 1)
              - (1.020930921463858 + 2.0000267965365612 * 3)) < 1e-12,
          'an unseen category falls into "other"')
  FROM (SELECT 3.0::float8 AS x, 'w'::text AS c) s;
SELECT throws_ok($$SELECT * FROM mlops.explain('fixed_bytes', 2)$$, '0A000',
                 'model format version 3 is newer than this mlops can read (2)',
                 'a newer format version is refused');
SELECT throws_ok($$SELECT * FROM mlops.explain('fixed_bytes', 3)$$, 'XX001',
                 'model bytes are corrupted: checksum mismatch',
                 'a flipped byte is caught by the checksum');
SELECT throws_ok($$SELECT * FROM mlops.explain('fixed_bytes', 4)$$, 'XX001',
                 'bytes are not an mlops model', 'bytes without the magic are refused');
SELECT throws_ok($$SELECT * FROM mlops.explain('fixed_bytes', 5)$$, 'XX001',
                 NULL, 'truncated bytes are refused');
SELECT throws_ok($$SELECT * FROM mlops.explain('fixed_bytes', 6)$$, 'XX001',
                 'model bytes are corrupted: 19 parameters where this linear model has 20',
                 'a parameter count that does not fit the model is refused, checksum or not');
SELECT throws_ok($$SELECT mlops.predict('fixed_bytes', s, 6) FROM (SELECT 3.0::float8 AS x, 'u'::text AS c) s$$,
                 'XX001', 'model bytes are corrupted: 19 parameters where this linear model has 20',
                 'scoring refuses it too');

SELECT * FROM finish();
ROLLBACK;
