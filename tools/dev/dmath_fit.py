#!/usr/bin/env python3
"""Derives every constant and polynomial of include/fractal/dmath.h.

Rerun:   pip install mpmath && python3 tools/dev/dmath_fit.py > /tmp/dmath_coeffs.txt
(about a minute; deterministic). Paste the printed blocks into dmath.h.

Method: each polynomial is a weighted minimax fit (Remez exchange on a dense Chebyshev grid, in
40-digit arithmetic) of an auxiliary function whose relative error is what matters. Coefficients are
rounded to binary32 one at a time, lowest degree first, refitting the remaining ones after each
rounding so that the rounded polynomial stays close to minimax. The printed "max rel err" is that of
the rounded polynomial, evaluated exactly (evaluation rounding in float is measured by the C tests).
Split constants (hi + lo) and the bits of 2/pi are computed here too, so nothing in the header is
copied from another library.
"""
import mpmath as mp

mp.mp.dps = 40


def f32(v):
    """Round to binary32 (round to nearest even, normal range)."""
    with mp.workprec(24):
        return +mp.mpf(v)


def c_hex(v):
    """C hex-float literal of a binary32 value, e.g. 0x1.555556p-3f."""
    v = mp.mpf(v)
    if v == 0:
        return "0x0p+0f"
    sign = "-" if v < 0 else ""
    man, ex = mp.frexp(abs(v))  # v = man * 2^ex, man in [0.5, 1)
    m = int(man * 2**24)
    assert m * mp.mpf(2) ** (ex - 24) == abs(v), "not a binary32 value"
    frac = m - 2**23
    return "%s0x1.%06xp%df" % (sign, frac << 1, ex - 1)


def split(v, hi_bits=24):
    """v ~ hi + lo with hi rounded to hi_bits significant bits and lo = f32(v - hi)."""
    with mp.workprec(hi_bits):
        hi = +mp.mpf(v)
    return hi, f32(v - hi)


def remez(xs, G, W, Phi, iters=60):
    """min over c of max_i |W_i (sum_j c_j Phi_ij - G_i)| on the grid xs; returns (c, max error)."""
    N, n = len(xs), len(Phi[0])
    ref = [int(round((N - 1) * (1 - mp.cos(mp.pi * i / n)) / 2)) for i in range(n + 1)]
    best = None
    for _ in range(iters):
        A = mp.matrix(n + 1, n + 1)
        rhs = mp.matrix(n + 1, 1)
        for r, i in enumerate(ref):
            for j in range(n):
                A[r, j] = Phi[i][j]
            A[r, n] = (-1) ** r / W[i]
            rhs[r] = G[i]
        sol = mp.lu_solve(A, rhs)
        c = [sol[j] for j in range(n)]
        lev = abs(sol[n])
        e = [W[i] * (mp.fsum(c[j] * Phi[i][j] for j in range(n)) - G[i]) for i in range(N)]
        m = max(abs(v) for v in e)
        if best is None or m < best[1]:
            best = (c, m)
        # New reference: the largest |e| of each run of equal sign, trimmed to n+1 alternating points.
        ext, sgn = [], None
        for i in range(N):
            s = e[i] >= 0
            if s != sgn:
                ext.append(i)
                sgn = s
            elif abs(e[i]) > abs(e[ext[-1]]):
                ext[-1] = i
        while len(ext) > n + 1:
            if len(ext) == n + 2:
                ext.pop(0 if abs(e[ext[0]]) < abs(e[ext[-1]]) else -1)
                continue
            k = min(range(len(ext)), key=lambda t: abs(e[ext[t]]))
            if k in (0, len(ext) - 1):
                ext.pop(k)
            else:
                left, right = ext[k - 1], ext[k + 1]
                ext[k - 1:k + 2] = [left if abs(e[left]) >= abs(e[right]) else right]
        if len(ext) < n + 1 or m - lev <= lev * mp.mpf("1e-6"):
            break
        ref = ext
    return best


def fit(g, a, b, powers, weight=None, split0=False, N=1500):
    """Float coefficients c_j of p(t) = sum_j c_j t^powers[j] ~ g(t) on [a, b].

    Minimises max |weight(t) (p(t) - g(t))|; weight(t) is the sensitivity of the final function's
    relative error to the auxiliary function g (default: 1/|g|, relative error of g itself).
    Rounding: the minimax coefficients are rounded to float one at a time from the lowest degree
    up; after each rounding the not yet rounded ones absorb the rounding error by a weighted least
    squares correction on the grid. With split0 the constant term is kept as hi + lo (two floats).
    Returns (coefficients, max weighted error of the rounded polynomial); with split0 the first
    two entries are c0 hi and c0 lo."""
    a, b = mp.mpf(a), mp.mpf(b)
    xs = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * (i + mp.mpf(1) / 2) / N) for i in range(N)]
    G = [g(x) for x in xs]
    W = [max(abs(weight(x)) if weight else 1 / abs(G[i]), mp.mpf("1e-30")) for i, x in enumerate(xs)]
    Phi = [[x**p for p in powers] for x in xs]
    c, _ = remez(xs, G, W, Phi)
    n = len(powers)
    out = []
    for j in range(n):
        if j == 0 and split0:
            hi, lo = split(c[0])
            out += [hi, lo]
            delta = c[0] - hi - lo
        else:
            r = f32(c[j])
            out.append(r)
            delta = c[j] - r
        if j + 1 < n and delta != 0:
            # least squares: sum_{k>j} d_k t^p_k ~ delta t^p_j, weighted, then c_k += d_k
            m = n - j - 1
            A = mp.matrix(m, m)
            rhs = mp.matrix(m, 1)
            for i in range(N):
                w2 = W[i] ** 2
                row = Phi[i][j + 1:]
                for u in range(m):
                    rhs[u] += w2 * row[u] * delta * Phi[i][j]
                    for v in range(m):
                        A[u, v] += w2 * row[u] * row[v]
            d = mp.lu_solve(A, rhs)
            for u in range(m):
                c[j + 1 + u] += d[u]
    vals = ([out[0] + out[1]] + out[2:]) if split0 else out
    err = max(abs(W[i] * (mp.fsum(vals[t] * Phi[i][t] for t in range(n)) - G[i])) for i in range(N))
    return out, err


def show(name, coeffs, err, what):
    print("/* %s: %s; max rel err 2^%.1f */" % (name, what, float(mp.log(err, 2))))
    for j, c in enumerate(coeffs):
        print("#define %s%d %s" % (name, j, c_hex(c)))
    print()


def sqrtz(z):
    return mp.sqrt(z)


def main():
    print("/* ---- generated by tools/dev/dmath_fit.py ---- */\n")

    # ---- constants ----
    ln2 = mp.log(2)
    consts = {}
    consts["FR_DM_LOG2E"] = f32(1 / ln2)
    hi, lo = split(ln2)
    consts["FR_DM_LN2_HI"], consts["FR_DM_LN2_LO"] = hi, lo
    hi, lo = split(ln2, 16)  # 16 bits: e * hi is exact for |e| < 2^8 (log)
    consts["FR_DM_LN2_HI16"], consts["FR_DM_LN2_LO16"] = hi, lo
    consts["FR_DM_2_OVER_PI"] = f32(2 / mp.pi)
    p1 = f32(mp.pi / 2)
    p2 = f32(mp.pi / 2 - p1)
    p3 = f32(mp.pi / 2 - p1 - p2)
    consts["FR_DM_PIO2_1"], consts["FR_DM_PIO2_2"], consts["FR_DM_PIO2_3"] = p1, p2, p3
    hi, lo = split(2 / mp.sqrt(mp.pi))
    consts["FR_DM_2_OVER_SQRTPI_HI"], consts["FR_DM_2_OVER_SQRTPI_LO"] = hi, lo
    hi, lo = split(1 / mp.sqrt(2))
    consts["FR_DM_SQRT1_2_HI"], consts["FR_DM_SQRT1_2_LO"] = hi, lo
    for k, v in consts.items():
        print("#define %s %s /* %s */" % (k, c_hex(v), mp.nstr(v, 12)))
    print("/* pi/2 - (PIO2_1 + PIO2_2 + PIO2_3) = %s */" % mp.nstr(mp.pi / 2 - p1 - p2 - p3, 5))
    print()

    # 2/pi = sum_i w_i 2^(-32 (i+1)): 7 words cover every binary32 exponent (dmath.h, Payne-Hanek).
    v = 2 / mp.pi
    words = []
    with mp.workdps(120):
        v = 2 / mp.pi
        for _ in range(8):
            v *= 2**32
            w = int(mp.floor(v))
            words.append(w)
            v -= w
    print("/* bits of 2/pi, 32 per word, most significant first */")
    print("/* " + ", ".join("0x%08xu" % w for w in words) + " */\n")

    # ---- thresholds (largest / smallest floats that do not overflow / underflow) ----
    def float_after(x, up=True):
        return f32(x + (1 if up else -1) * mp.mpf(2) ** (mp.floor(mp.log(abs(x), 2)) - 23))

    ovf = mp.log(mp.mpf(2) ** 128 * (1 - mp.mpf(2) ** -25))  # exp(x) >= this rounds to inf
    x = f32(ovf)
    while mp.exp(x) >= mp.mpf(2) ** 128 * (1 - mp.mpf(2) ** -25):
        x = float_after(x, False)
    print("#define FR_DM_EXP_MAX %s /* largest float with finite exp: %s */" % (c_hex(x), mp.nstr(x, 12)))
    ufl = mp.log(mp.mpf(2) ** -150)  # exp(x) <= 2^-150 rounds to 0 (ties to even)
    x = f32(ufl)
    while mp.exp(x) <= mp.mpf(2) ** -150:
        x = float_after(-x, False)
        x = -x
    print("#define FR_DM_EXP_MIN %s /* smallest float with nonzero exp: %s */" % (c_hex(x), mp.nstr(x, 12)))

    def last_nonzero(f, x0):  # largest float x > x0 with f(x) > 2^-150, searching upwards
        lo_, hi_ = mp.mpf(x0), mp.mpf(x0) + 2
        while f(hi_) > mp.mpf(2) ** -150:
            hi_ += 2
        for _ in range(200):
            mid = (lo_ + hi_) / 2
            if f(mid) > mp.mpf(2) ** -150:
                lo_ = mid
            else:
                hi_ = mid
        x = f32(lo_)
        while f(x) <= mp.mpf(2) ** -150:
            x = float_after(x, False)
        while f(float_after(x)) > mp.mpf(2) ** -150:
            x = float_after(x)
        return x

    x = last_nonzero(mp.erfc, 9)
    print("#define FR_DM_ERFC_MAX %s /* largest float with nonzero erfc: %s */" % (c_hex(x), mp.nstr(x, 12)))
    x = last_nonzero(lambda t: t / 2 * mp.erfc(t / mp.sqrt(2)), 12)
    print("#define FR_DM_GELU_MIN %s /* -(this) is the most negative float with nonzero gelu: %s */"
          % (c_hex(x), mp.nstr(x, 12)))
    x = last_nonzero(lambda t: t * mp.exp(-t), 100)
    print("#define FR_DM_SILU_MIN %s /* -(this) is the most negative float with nonzero silu: %s */"
          % (c_hex(x), mp.nstr(x, 12)))
    print()

    # ---- polynomials ----
    # Each weight is the factor by which an error in the auxiliary polynomial reaches the relative
    # error of the final function, so the printed error is directly a share of an ulp budget.
    # exp: e^r = 1 + r + r^2 q(r), |r| <= ln2/2 plus the slack of rounding k = round(x log2e).
    # Weighted for expm1 (r^2/|e^r - 1|), the stricter of exp and expm1.
    R = mp.mpf("0.3467")
    c, e = fit(lambda r: (mp.expm1(r) - r) / r**2, -R, R, range(6), weight=lambda r: r * r / mp.expm1(r))
    show("FR_DM_EXP_Q", c, e, "e^r = 1 + r + r^2 Q(r), |r| <= 0.3467, error relative to e^r - 1")

    # log: log1p(f) = 2 atanh(s) = 2s + s T(s^2), s = f/(2+f), |s| <= (sqrt2-1)/(sqrt2+1) = 0.17157.
    c, e = fit(lambda z: 2 * (mp.atanh(sqrtz(z)) / sqrtz(z) - 1), mp.mpf("1e-20"), mp.mpf("0.0295"), range(1, 5),
               weight=lambda z: sqrtz(z) / (2 * mp.atanh(sqrtz(z))))
    show("FR_DM_LOG_T", c, e, "2 atanh(s) = 2s + s sum_j T_j s^(2j+2), s^2 <= 0.0295, error relative to log1p")

    # sin/cos on |r| <= pi/4 plus the slack of rounding n = round(x 2/pi) for |x| < 2^16.
    Z = mp.mpf("0.6218")
    c, e = fit(lambda z: (mp.sin(sqrtz(z)) - sqrtz(z)) / z**1.5, mp.mpf("1e-30"), Z, range(4),
               weight=lambda z: z * sqrtz(z) / mp.sin(sqrtz(z)))
    show("FR_DM_SIN_S", c, e, "sin r = r + r^3 S(r^2), r^2 <= 0.6218, error relative to sin")
    c, e = fit(lambda z: (mp.cos(sqrtz(z)) - 1 + z / 2) / z**2, mp.mpf("1e-30"), Z, range(4),
               weight=lambda z: z * z / mp.cos(sqrtz(z)))
    show("FR_DM_COS_C", c, e, "cos r = 1 - r^2/2 + r^4 C(r^2), r^2 <= 0.6218, error relative to cos")

    # tanh for |x| < 0.5 (beyond, tanh = (1 - e^-2x) / (1 + e^-2x) is accurate).
    c, e = fit(lambda z: (mp.tanh(sqrtz(z)) - sqrtz(z)) / z**1.5, mp.mpf("1e-30"), mp.mpf("0.2501"), range(6),
               weight=lambda z: z * sqrtz(z) / mp.tanh(sqrtz(z)))
    show("FR_DM_TANH_T", c, e, "tanh x = x + x^3 T(x^2), |x| <= 0.5, error relative to tanh")

    # erf for |x| <= 0.5 (beyond, erf = 1 - erfc is more accurate): erf x = x (c0 + x^2 Q(x^2))
    # with c0 = 2/sqrt(pi) as hi + lo.
    c0 = 2 / mp.sqrt(mp.pi)
    c, e = fit(lambda z: (mp.erf(sqrtz(z)) / sqrtz(z) - c0) / z, mp.mpf("1e-30"), mp.mpf("0.2501"), range(5),
               weight=lambda z: z * sqrtz(z) / mp.erf(sqrtz(z)))
    show("FR_DM_ERF_Q", c, e, "erf x = x (2/sqrt(pi) + x^2 Q(x^2)), |x| <= 0.5, error relative to erf")

    # gelu for |x| < sqrt(2)/4: gelu = x/2 + x^2 H(x^2), H(w) = erf(sqrt(w/2)) / (2 sqrt w); the
    # weight is that of negative x, where x/2 and x^2 H partly cancel.
    c, e = fit(lambda w: mp.erf(sqrtz(w / 2)) / (2 * sqrtz(w)), mp.mpf("1e-30"), mp.mpf("0.1251"), range(5),
               weight=lambda w: 2 * sqrtz(w) / mp.erfc(sqrtz(w / 2)))
    show("FR_DM_GELU_H", c, e, "gelu x = x/2 + x^2 H(x^2), x^2 <= 0.1251, error relative to gelu")

    # erfc(z) = exp(-z^2) F(z), F = erfcx, on 5 intervals, degree 9 in t = z - center; the constant
    # term is hi + lo: at t = 0 nothing else can absorb its rounding error.
    def F(z):
        return mp.exp(z * z) * mp.erfc(z)

    ivs = [(0.25, 1), (1, 2), (2, 3.5), (3.5, 6), (6, 10.5)]
    print("/* erfc(z) e^(z^2) = (c0h + c0l) + t (c1 + t (c2 + ... + t c9)), t = z - mid; picked by z's interval */")
    cols, errs = [], []
    for i, (a, b) in enumerate(ivs):
        mid = mp.mpf(a + b) / 2
        assert f32(mid) == mid
        # fit slightly beyond the interval: the argument's low part (gelu) can cross the boundary
        c, e = fit(lambda t: F(t + mid), a - mid - mp.mpf("1e-6"), b - mid + mp.mpf("1e-6"), range(10), split0=True)
        cols.append([mid] + list(c))
        errs.append("2^%.1f" % float(mp.log(e, 2)))
    print("  /* generated by tools/dev/dmath_fit.py; max rel err per interval %s */" % ", ".join(errs))
    names = ["mid", "c0h", "c0l"] + ["c%d" % j for j in range(1, 10)]
    for j, name in enumerate(names):
        print("  const float %s = fr_dm_pick5_(iv, %s);" % (name, ", ".join(c_hex(col[j]) for col in cols)))


if __name__ == "__main__":
    main()
