-- Drift statistics against known answers: PSI by hand, KS and chi-square
-- against values computed outside the project with SciPy 1.10.1
-- (scipy.stats.ks_2samp, scipy.special.kolmogorov,
-- scipy.stats.chi2_contingency, scipy.stats.chi2.sf) and R.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(17);

-- ---------------------------------------------------------------------------
-- PSI = sum (a - e) ln(a / e)
-- ---------------------------------------------------------------------------
-- e = (.25, .25, .25, .25), a = (.1, .2, .3, .4):
--   (.1-.25) ln(.4)  = 0.137443610
--   (.2-.25) ln(.8)  = 0.011157178
--   (.3-.25) ln(1.2) = 0.009116078
--   (.4-.25) ln(1.6) = 0.070500544      sum = 0.228217410
SELECT cmp_ok(abs(mlops.psi('{0.25,0.25,0.25,0.25}', '{0.1,0.2,0.3,0.4}') - 0.2282174096),
              '<', 1e-9::float8, 'PSI of the hand-computed example is 0.2282174');
-- counts are normalised like shares
SELECT cmp_ok(abs(mlops.psi('{25,25,25,25}', '{10,20,30,40}') - 0.2282174096),
              '<', 1e-9::float8, 'PSI takes counts as well as shares');
-- an empty bin counts as 1e-4: e = (.5, .5, 0), a = (.5, .4, .1):
--   0 + (.4-.5) ln(.8) + (.1-1e-4) ln(.1/1e-4) = 0.022314355 + 0.690084752 = 0.712399108
SELECT cmp_ok(abs(mlops.psi('{0.5,0.5,0}', '{0.5,0.4,0.1}') - 0.7123991075),
              '<', 1e-9::float8, 'PSI gives empty bins a share of 1e-4');
SELECT is(mlops.psi('{3,1,4,1,5}', '{3,1,4,1,5}'), 0::float8, 'PSI of identical distributions is 0');

-- ---------------------------------------------------------------------------
-- Two-sample Kolmogorov-Smirnov
-- ---------------------------------------------------------------------------
-- With ties inside and across the samples (values rounded to 0.1).
-- SciPy 1.10.1: ks_2samp(a, b).statistic = 0.325;
-- lambda = (sqrt(ne) + 0.12 + 0.11/sqrt(ne)) * D with ne = 40*30/70 = 1.393262286028862;
-- scipy.special.kolmogorov(1.393262286028862) = 0.04120394975512623.
CREATE TEMP TABLE ks_ref AS
SELECT ARRAY[-0.8, 0.2, -1.9, 1.4, 0.6, -0.3, -0.3, 0.3, -0.3, -0.2, 0.7, 0.5, -0.1, -0.1,
             0.2, -0.6, -0.4, 0.5, -0.1, -1.4, -0.5, 0.7, -0.2, -0.1, 0.6, 1.8, -0.7, 1.3,
             -1.2, 0.2, -1.2, 1.4, 0.8, 1.1, -0.9, 0.7, -0.5, -0.5, 0.5, 0.9]::float8[] AS a,
       ARRAY[0.8, 0.0, -0.2, 2.0, 1.2, 1.3, 2.8, -0.2, 3.2, 3.8, 2.2, 1.4, -0.1, 1.6, 0.2,
             0.6, 0.3, 0.9, 1.9, 0.0, -0.4, -0.4, -0.4, -0.8, -0.3, 1.9, 0.0, 0.9, -0.6,
             0.8]::float8[] AS b;
SELECT cmp_ok((SELECT abs(statistic - 0.325) FROM ks_ref, mlops.ks_test(a, b)), '<', 1e-12::float8,
              'KS statistic with ties matches scipy.stats.ks_2samp (0.325)');
SELECT cmp_ok((SELECT abs(p_value - 0.04120394975512623) FROM ks_ref, mlops.ks_test(a, b)), '<', 1e-12::float8,
              'KS p-value matches scipy.special.kolmogorov at Stephens'' lambda (0.0412039)');
SELECT cmp_ok((SELECT abs(statistic - 0.325) FROM ks_ref, mlops.ks_test(b, a)), '<', 1e-12::float8,
              'KS statistic is symmetric in its samples');
-- Without ties: ks_2samp = 0.6071428571428571, lambda = 1.2805334847026326,
-- kolmogorov(lambda) = 0.07528772410866562.
SELECT cmp_ok((SELECT abs(statistic - 0.6071428571428571)
                 FROM mlops.ks_test('{1.2,3.4,0.5,2.2,5.1,4.4,0.9,3.3}', '{2.5,6.1,4.8,3.9,7.2,5.5,6.6}')),
              '<', 1e-12::float8, 'KS statistic without ties matches scipy (0.6071429)');
SELECT cmp_ok((SELECT abs(p_value - 0.07528772410866562)
                 FROM mlops.ks_test('{1.2,3.4,0.5,2.2,5.1,4.4,0.9,3.3}', '{2.5,6.1,4.8,3.9,7.2,5.5,6.6}')),
              '<', 1e-12::float8, 'KS p-value without ties matches scipy (0.0752877)');
SELECT results_eq($$SELECT statistic, p_value FROM mlops.ks_test('{1,2,2,3}', '{3,2,1,2}')$$,
                  $$VALUES (0::float8, 1::float8)$$,
                  'KS of identical samples: D = 0, p = 1');

-- ---------------------------------------------------------------------------
-- Chi-square test of homogeneity (2 x k table)
-- ---------------------------------------------------------------------------
-- SciPy 1.10.1: chi2_contingency([[30,14,34,45,57,20],[26,22,30,40,50,32]], correction=False)
--   statistic = 5.834784405015302, p = 0.32262855046642175, dof = 5
SELECT cmp_ok((SELECT abs(statistic - 5.834784405015302)
                 FROM mlops.chi_square_test('{30,14,34,45,57,20}', '{26,22,30,40,50,32}')),
              '<', 1e-9::float8, 'chi-square statistic matches scipy chi2_contingency (5.8347844)');
SELECT cmp_ok((SELECT abs(p_value - 0.32262855046642175)
                 FROM mlops.chi_square_test('{30,14,34,45,57,20}', '{26,22,30,40,50,32}')),
              '<', 1e-9::float8, 'chi-square p-value matches scipy chi2_contingency (0.3226286)');
-- A bucket empty on both sides is dropped (dof 2, not 3); a bucket empty on
-- one side only is kept.  chi2_contingency([[120,0,80],[90,15,95]],
-- correction=False): statistic = 20.571428571428573, p = 3.4117016323720254e-05.
SELECT results_eq($$SELECT df, round(statistic::numeric, 9), round((p_value * 1e5)::numeric, 9)
                      FROM mlops.chi_square_test('{120,0,80,0}', '{90,15,95,0}')$$,
                  $$VALUES (2, 20.571428571::numeric, 3.411701632::numeric)$$,
                  'chi-square drops buckets empty on both sides and matches scipy (20.5714286, p 3.41e-5)');

-- A 2 x 2 table by hand: {{60,40},{40,60}} has every expected count 50 and
-- each cell contributes 10^2/50 = 2, so the statistic is 8 with 1 df;
-- SciPy: chi2.sf(8, 1) = 0.004677734981047276 (R: pchisq(8, 1,
-- lower.tail=FALSE) = 0.004677735).
SELECT results_eq($$SELECT statistic, df FROM mlops.chi_square_test('{60,40}', '{40,60}')$$,
                  $$VALUES (8::float8, 1)$$, 'chi-square of a hand-computed 2 x 2 table is 8');
SELECT cmp_ok((SELECT abs(p_value - 0.004677734981047276) FROM mlops.chi_square_test('{60,40}', '{40,60}')),
              '<', 1e-12::float8, 'chi-square tail at 8 with 1 df matches scipy chi2.sf (0.00467773)');

-- ---------------------------------------------------------------------------
-- Bad input
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT mlops.psi('{1,2}', '{1,2,3}')$$, '2202E', NULL,
                 'PSI refuses arrays of different lengths');
SELECT throws_ok($$SELECT mlops.chi_square_test('{1,-2}', '{1,2}')$$, '22023', NULL,
                 'chi-square refuses negative counts');

SELECT * FROM finish();
ROLLBACK;
