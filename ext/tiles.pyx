# cython: language_level=3
"""Slide tiling, GIL-free with OpenMP.

The public module ``gilfree.tiles`` cuts the image into bands of tile rows
and calls these kernels once per band with the band's rows (C-contiguous,
(bh, W, C)), the listed tiles' origins relative to the band, a parameter
vector ``geom`` (layout in ``gilfree/_tiles_plan.py``) and, for resized
patches, the tables of ``gilfree._resize_plan``.

- ``measure``: foreground pixels per listed tile.
- ``patches``: per listed tile, in parallel over tiles, fused: count the
  foreground pixels (if asked), keep or drop, and copy the kept tile (with
  padding where it leaves the image) into its output slot, or into a
  thread-private tile buffer from which the resize core
  (``_resize_core.pxi``, the loops of ``gilfree.resize``) writes the patch.

Each tile is handled by one thread with the same operations whatever the
thread count, so results never depend on it.
"""

cimport cython
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from _openmp cimport gf_note_team, gf_openmp_enabled
include "_omp_probe.pxi"

include "_resize_core.pxi"

cdef extern from *:
    const char* GILFREE_SIMD_VARIANT

cdef extern from *:
    """
    #if defined(__unix__) || defined(__APPLE__)
    #include <sys/mman.h>
    #define GF_HAVE_MADVISE 1
    static int gf_dontneed(void *addr, size_t len) { return madvise(addr, len, MADV_DONTNEED); }
    #else
    #define GF_HAVE_MADVISE 0
    static int gf_dontneed(void *addr, size_t len) { (void)addr; (void)len; return -1; }
    #endif
    """
    int GF_HAVE_MADVISE
    int gf_dontneed(void* addr, size_t length) nogil

cdef extern from *:
    """
    #if defined(_MSC_VER)
    #include <intrin.h>
    static int64_t gf_fetch_sub(int64_t *p) { return _InterlockedExchangeAdd64((volatile long long *)p, -1); }
    #else
    static int64_t gf_fetch_sub(int64_t *p) { return __atomic_fetch_sub(p, 1, __ATOMIC_ACQ_REL); }
    #endif
    """
    int64_t gf_fetch_sub(int64_t* p) nogil

SIMD_VARIANT = (<bytes>GILFREE_SIMD_VARIANT).decode()
OPENMP = bool(gf_openmp_enabled())
#: The kernels drop the pages named by their ``release`` argument (the
#: previous band of a memmap) from one thread while the others start on the
#: tiles; the caller releases them itself when this is False.
RELEASES_PAGES = bool(GF_HAVE_MADVISE)

# geom layout: must match gilfree/_tiles_plan.py
cdef enum:
    G_TH = 0
    G_TW = 1
    G_FG = 2
    G_THR = 3
    G_PADFG = 4
    G_MINCOUNT = 5
    G_MEASURE = 6
    G_RMODE = 7
    G_HPASS = 8
    G_VPASS = 9
    G_VFIRST = 10
    G_KX = 11
    G_KY = 12
    G_ADDHALF = 13
    G_OH = 14
    G_OW = 15
    G_LEN = 16
    FG_ALL = 0
    FG_MASK = 1
    FG_LUMA = 2
    R_NONE = -1
    R_COPY = 0
    R_CONV = 1
    R_NEAREST = 2
    R_AREA_FAST = 3
    R_AREA_TABLE = 4


cdef struct TileGeom:
    Py_ssize_t bh, W, C, th, tw
    int fg
    int64_t thr
    double thr_f
    int pad_fg
    int64_t need       # keep threshold: counting stops once it is out of reach


cdef inline int64_t _count_row(const gf_pix_t* p, Py_ssize_t n, Py_ssize_t C, int64_t thr,
                               double thr_f) noexcept nogil:
    """Foreground pixels among the n pixels at p (luma rule)."""
    cdef Py_ssize_t i
    cdef int32_t c32 = 0
    cdef int32_t t32
    cdef int64_t c64 = 0
    cdef double s
    if gf_pix_t is uint8_t:
        # 19595 R + 38470 G + 7471 B <= 255 * 65536: int32 is exact
        if C >= 3:
            t32 = <int32_t>(thr if thr < 16777216 else 16777216)
            if t32 < 0:
                return 0
            if C == 3:
                for i in range(n):
                    c32 = c32 + ((19595 * <int32_t>p[3 * i] + 38470 * <int32_t>p[3 * i + 1]
                                  + 7471 * <int32_t>p[3 * i + 2]) < t32)
            elif C == 4:
                for i in range(n):
                    c32 = c32 + ((19595 * <int32_t>p[4 * i] + 38470 * <int32_t>p[4 * i + 1]
                                  + 7471 * <int32_t>p[4 * i + 2]) < t32)
            return c32
        t32 = <int32_t>(thr if thr < 256 else 256)
        if C == 1:
            for i in range(n):
                c32 = c32 + (<int32_t>p[i] < t32)
        else:
            for i in range(n):
                c32 = c32 + (<int32_t>p[C * i] < t32)
        return c32
    elif gf_pix_t is uint16_t:
        if C >= 3:
            for i in range(n):
                c64 = c64 + ((19595 * <int64_t>p[C * i] + 38470 * <int64_t>p[C * i + 1]
                              + 7471 * <int64_t>p[C * i + 2]) < thr)
            return c64
        for i in range(n):
            c64 = c64 + (<int64_t>p[C * i] < thr)
        return c64
    else:
        if C >= 3:
            for i in range(n):
                s = 19595.0 * <double>p[C * i] + 38470.0 * <double>p[C * i + 1] \
                    + 7471.0 * <double>p[C * i + 2]
                c64 = c64 + (s < thr_f)
            return c64
        for i in range(n):
            c64 = c64 + (<double>p[C * i] < thr_f)
        return c64


def probe(const uint8_t[:, ::1] rgb, int64_t threshold, Py_ssize_t repeats):
    """The ceiling probe (``gilfree._probes``): foreground pixels of ``rgb``
    (n, 3) uint8 by the luma rule ``tiles`` measures every slide pixel with
    (``19595 R + 38470 G + 7471 B < threshold * 65536``, int32), in the
    simplest loop over contiguous pixels; one thread, ``repeats`` times."""
    cdef Py_ssize_t n = rgb.shape[0], r
    cdef int64_t cnt = 0
    if rgb.shape[1] != 3:
        raise ValueError(f"probe: expected (n, 3) RGB pixels; got {rgb.shape[1]} channels")
    if n == 0:
        return 0
    with nogil:
        for r in range(repeats):
            cnt = _count_row(&rgb[0, 0], n, 3, threshold * 65536, 0.0)
    return cnt


cdef inline int64_t _count_mask_row(const uint8_t* m, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef int32_t c = 0
    for i in range(n):
        c = c + (m[i] != 0)
    return c


cdef inline int64_t _count_tile(const gf_pix_t* band, const uint8_t* mask, const TileGeom* g,
                                Py_ssize_t y, Py_ssize_t x) noexcept nogil:
    """Foreground pixels of the tile with origin (y, x) in the band, or, once
    the tile cannot reach ``g.need`` any more, the (smaller) count so far:
    a dropped tile's fraction is never reported."""
    cdef Py_ssize_t vh = g.bh - y, vw = g.W - x, r
    cdef int64_t cnt = 0, padpix, rest
    if g.fg == FG_ALL:
        return g.th * g.tw
    if vh > g.th:
        vh = g.th
    if vw > g.tw:
        vw = g.tw
    padpix = (g.th * g.tw - vh * vw) if g.pad_fg else 0
    rest = vh * vw
    for r in range(vh):
        if g.fg == FG_MASK:
            cnt = cnt + _count_mask_row(mask + (y + r) * g.W + x, vw)
        else:
            cnt = cnt + _count_row(band + ((y + r) * g.W + x) * g.C, vw, g.C, g.thr, g.thr_f)
        rest = rest - vw
        if cnt + rest + padpix < g.need:
            return cnt
    return cnt + padpix


cdef inline void _load_tile(const gf_pix_t* band, const TileGeom* g, Py_ssize_t y, Py_ssize_t x,
                            const gf_pix_t* padrow, gf_pix_t* dst) noexcept nogil:
    """Copy the tile at (y, x) to dst (th, tw, C), fill value beyond the image."""
    cdef Py_ssize_t vh = g.bh - y, vw = g.W - x, r
    cdef Py_ssize_t rl = g.tw * g.C
    if vh > g.th:
        vh = g.th
    if vw > g.tw:
        vw = g.tw
    for r in range(vh):
        memcpy(dst + r * rl, band + ((y + r) * g.W + x) * g.C, sizeof(gf_pix_t) * vw * g.C)
        if vw < g.tw:
            memcpy(dst + r * rl + vw * g.C, padrow, sizeof(gf_pix_t) * (g.tw - vw) * g.C)
    for r in range(vh, g.th):
        memcpy(dst + r * rl, padrow, sizeof(gf_pix_t) * rl)


cdef inline void _drop_pages(const int64_t* rel) noexcept nogil:
    """madvise(MADV_DONTNEED) on up to two (address, length) ranges; the
    caller (gilfree.tiles) computed them as page-aligned ranges inside shared
    file mappings of np.memmap arrays."""
    if rel[1] > 0:
        gf_dontneed(<void*><size_t>rel[0], <size_t>rel[1])
    if rel[3] > 0:
        gf_dontneed(<void*><size_t>rel[2], <size_t>rel[3])


cdef inline void _area_fast_inside(const gf_pix_t* t0, Py_ssize_t stride, Py_ssize_t tw,
                                   Py_ssize_t C, Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t kx,
                                   Py_ssize_t ky, int addhalf, gf_pix_t* d, int32_t* iacc,
                                   double* facc) noexcept nogil:
    """Integer-factor area means of a tile read in place (rows ``stride``
    elements apart): ``gf_area_fast_row``'s arithmetic without the copy.
    Integer images sum in int32 (exact: at most kx*ky*65535 per sum, checked
    by the caller) and round as OpenCV does; float images sum the ky rows
    per column, then kx columns, in that order, in double."""
    cdef Py_ssize_t rl = tw * C, i, j, t, x, b, c
    cdef const gf_pix_t* s
    cdef const gf_pix_t* row
    cdef int32_t isum
    cdef double fsum
    cdef float fscale = (<float>1.0) / <float>(kx * ky)
    cdef double dscale = 1.0 / <double>(kx * ky)
    cdef float v
    for i in range(oh):
        s = t0 + i * ky * stride
        if gf_pix_t is uint8_t or gf_pix_t is uint16_t:
            for j in range(rl):
                iacc[j] = s[j]
            for t in range(1, ky):
                row = s + t * stride
                for j in range(rl):
                    iacc[j] = iacc[j] + row[j]
            for x in range(ow):
                for c in range(C):
                    isum = 0
                    for b in range(kx):
                        isum = isum + iacc[(x * kx + b) * C + c]
                    if addhalf:
                        d[(i * ow + x) * C + c] = <gf_pix_t>((isum + 2) >> 2)
                    else:
                        v = rintf(<float>isum * fscale)
                        if v < 0:
                            v = 0
                        if gf_pix_t is uint8_t:
                            if v > 255:
                                v = 255
                        else:
                            if v > 65535:
                                v = 65535
                        d[(i * ow + x) * C + c] = <gf_pix_t>v
        else:
            for j in range(rl):
                facc[j] = s[j]
            for t in range(1, ky):
                row = s + t * stride
                for j in range(rl):
                    facc[j] = facc[j] + row[j]
            for x in range(ow):
                for c in range(C):
                    fsum = 0.0
                    for b in range(kx):
                        fsum = fsum + facc[(x * kx + b) * C + c]
                    d[(i * ow + x) * C + c] = <gf_pix_t>(fsum * dscale)


cdef inline void _fill_geom(TileGeom* g, Py_ssize_t bh, Py_ssize_t W, Py_ssize_t C,
                            const int64_t* geom, double thr_f) noexcept nogil:
    g.bh = bh
    g.W = W
    g.C = C
    g.th = geom[G_TH]
    g.tw = geom[G_TW]
    g.fg = <int>geom[G_FG]
    g.thr = geom[G_THR]
    g.thr_f = thr_f
    g.pad_fg = <int>geom[G_PADFG]
    g.need = geom[G_MINCOUNT]


def measure(const gf_pix_t[:, :, ::1] band, const uint8_t[:, ::1] mask,
            const int64_t[::1] ys, const int64_t[::1] xs, int64_t[::1] counts,
            const int64_t[::1] geom, double thr_f, const int64_t[::1] release, int n_threads):
    """counts[j] = foreground pixels of the tile at (ys[j], xs[j])."""
    cdef Py_ssize_t n = ys.shape[0], j
    cdef TileGeom g
    cdef const gf_pix_t* bp = &band[0, 0, 0]
    cdef const uint8_t* mp = &mask[0, 0]
    cdef const int64_t* rel
    if release.shape[0] != 4:
        raise ValueError("tiles: release must hold two (address, length) pairs")
    rel = &release[0]
    _fill_geom(&g, band.shape[0], band.shape[1], band.shape[2], &geom[0], thr_f)
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        if threadid() == 0:
            _drop_pages(rel)
        for j in prange(n, schedule="dynamic"):
            counts[j] = _count_tile(bp, mp, &g, ys[j], xs[j])


cdef struct Recipe:
    # how a kept tile becomes its patch (fixed for a call)
    int rmode, do_measure, addhalf, area_inplace
    int64_t min_count
    Py_ssize_t C, oh, ow, kx, ky, osz, tsz
    const int64_t* xi
    const int64_t* yi
    const int64_t* xofs
    const int32_t* xsrc
    const float* xal
    const int64_t* yofs
    const int32_t* ysrc
    const float* yal


cdef struct Scratch:
    # one thread's buffers (typed per image dtype at the use site)
    void* tile
    void* tmp
    int32_t* iacc
    double* dacc
    int64_t* lacc
    float* fbuf


cdef inline int _scratch_alloc(Scratch* s, const Recipe* w, const GfConvPlan* plan,
                               const TileGeom* g, size_t pixsize, int is_u8,
                               int is_double) noexcept nogil:
    """Allocate what the recipe needs; 0 on success."""
    cdef Py_ssize_t rl = g.tw * w.C
    s.tile = NULL
    s.tmp = NULL
    s.iacc = NULL
    s.dacc = NULL
    s.lacc = NULL
    s.fbuf = NULL
    if w.rmode == R_COPY or w.rmode == R_NONE:
        return 0
    s.tile = malloc(pixsize * w.tsz)
    if s.tile == NULL:
        return 1
    if w.rmode == R_CONV:
        s.tmp = malloc(pixsize * (plan.tmp_len + 1))
        if is_u8:
            s.iacc = <int32_t*> malloc(sizeof(int32_t) * plan.acc_len)
        else:
            s.dacc = <double*> malloc(sizeof(double) * plan.acc_len)
        return s.tmp == NULL or (s.iacc == NULL and s.dacc == NULL)
    if w.rmode == R_AREA_FAST:
        s.lacc = <int64_t*> malloc(sizeof(int64_t) * rl)
        s.dacc = <double*> malloc(sizeof(double) * rl)
        s.iacc = <int32_t*> malloc(sizeof(int32_t) * rl)
        return s.lacc == NULL or s.dacc == NULL or s.iacc == NULL
    if w.rmode == R_AREA_TABLE:
        if is_double:
            s.dacc = <double*> malloc(sizeof(double) * 2 * w.ow * w.C)
            return s.dacc == NULL
        s.fbuf = <float*> malloc(sizeof(float) * 2 * w.ow * w.C)
        return s.fbuf == NULL
    return 0


cdef inline void _scratch_free(Scratch* s) noexcept nogil:
    if s == NULL:
        return
    free(s.tile)
    free(s.tmp)
    free(s.iacc)
    free(s.dacc)
    free(s.lacc)
    free(s.fbuf)
    free(s)


cdef inline Scratch* _scratch_new(const Recipe* w, const GfConvPlan* plan, const TileGeom* g,
                                  size_t pixsize, int is_u8, int is_double) noexcept nogil:
    """A thread's own buffers for the recipe, or NULL."""
    cdef Scratch* s = <Scratch*> malloc(sizeof(Scratch))
    if s == NULL:
        return NULL
    if _scratch_alloc(s, w, plan, g, pixsize, is_u8, is_double):
        _scratch_free(s)
        return NULL
    return s


cdef inline void _tile_work(const gf_pix_t* bp, const uint8_t* mp, const TileGeom* g,
                            const Recipe* w, const GfConvPlan* plan, Py_ssize_t j,
                            Py_ssize_t y, Py_ssize_t x, int64_t* counts,
                            const gf_pix_t* padrow, gf_pix_t* op, Scratch* s) noexcept nogil:
    """Tile j at (y, x): count (if asked), keep or drop, copy or resize."""
    cdef int64_t cnt
    cdef gf_pix_t* dst
    cdef gf_pix_t* tile = <gf_pix_t*> s.tile
    cdef Py_ssize_t C = w.C, oh = w.oh, ow = w.ow, i, r
    cdef int step
    if w.do_measure:
        cnt = _count_tile(bp, mp, g, y, x)
        counts[j] = cnt
        if cnt < w.min_count:
            return
    if w.rmode == R_NONE:
        return
    dst = op + j * w.osz
    if w.rmode == R_COPY:
        _load_tile(bp, g, y, x, padrow, dst)
        return
    if w.area_inplace and y + g.th <= g.bh and x + g.tw <= g.W:
        _area_fast_inside(bp + (y * g.W + x) * C, g.W * C, g.tw, C, oh, ow, w.kx, w.ky,
                          w.addhalf, dst, s.iacc, s.dacc)
        return
    _load_tile(bp, g, y, x, padrow, tile)
    if w.rmode == R_CONV:
        for step in range(plan.nsteps):
            for r in range(plan.rows[step]):
                if gf_pix_t is uint8_t:
                    gf_conv_u8_row(plan, step, r, tile, <gf_pix_t*> s.tmp, dst, s.iacc)
                else:
                    gf_conv_f_row(plan, step, r, tile, <gf_pix_t*> s.tmp, dst, s.dacc)
    elif w.rmode == R_NEAREST:
        for i in range(oh):
            gf_nearest_row(tile + w.yi[i] * g.tw * C, dst + i * ow * C, C, ow, w.xi)
    elif w.rmode == R_AREA_FAST:
        for i in range(oh):
            gf_area_fast_row(tile + i * w.ky * g.tw * C, g.tw, C, ow, w.kx, w.ky, w.addhalf,
                             dst + i * ow * C, s.lacc, s.dacc)
    else:
        for i in range(oh):
            if gf_pix_t is double:
                gf_area_tab_row(tile, g.tw, C, ow, i, w.xofs, w.xsrc, w.xal, w.yofs, w.ysrc,
                                w.yal, dst + i * ow * C, s.dacc, s.dacc + ow * C)
            else:
                gf_area_tab_row(tile, g.tw, C, ow, i, w.xofs, w.xsrc, w.xal, w.yofs, w.ysrc,
                                w.yal, dst + i * ow * C, s.fbuf, s.fbuf + ow * C)


cdef inline gf_pix_t* _prepare(const gf_pix_t[:, :, ::1] band, const int64_t[::1] geom,
                               double thr_f, const gf_pix_t[::1] padval,
                               gf_pix_t[:, :, :, ::1] out, Py_ssize_t n,
                               const int32_t[:, ::1] xb, const int32_t[:, ::1] xki,
                               const double[:, ::1] xkf, const int32_t[:, ::1] yb,
                               const int32_t[:, ::1] yki, const double[:, ::1] ykf,
                               const int64_t[::1] xi, const int64_t[::1] yi,
                               const int64_t[::1] xofs, const int32_t[::1] xsrc,
                               const float[::1] xal, const int64_t[::1] yofs,
                               const int32_t[::1] ysrc, const float[::1] yal,
                               TileGeom* g, Recipe* w, GfConvPlan* plan) except NULL:
    """Fill the call's geometry, recipe and resize plan; return the fill row
    (tw * C values, to free)."""
    cdef Py_ssize_t C = band.shape[2], kxn, kyn, i, c
    cdef gf_pix_t* padrow
    _fill_geom(g, band.shape[0], band.shape[1], C, &geom[0], thr_f)
    w.rmode = <int>geom[G_RMODE]
    w.do_measure = <int>geom[G_MEASURE]
    w.min_count = geom[G_MINCOUNT]
    w.addhalf = <int>geom[G_ADDHALF]
    w.C = C
    w.oh = geom[G_OH]
    w.ow = geom[G_OW]
    w.kx = geom[G_KX]
    w.ky = geom[G_KY]
    w.osz = w.oh * w.ow * C
    w.tsz = g.th * g.tw * C
    # int32 block sums are exact up to kx * ky * 65535 < 2**31
    w.area_inplace = w.rmode == R_AREA_FAST and w.kx * w.ky <= 32768
    w.xi = &xi[0]
    w.yi = &yi[0]
    w.xofs = &xofs[0]
    w.xsrc = &xsrc[0]
    w.xal = &xal[0]
    w.yofs = &yofs[0]
    w.ysrc = &ysrc[0]
    w.yal = &yal[0]
    if w.rmode != R_NONE and (out.shape[1] != w.oh or out.shape[2] != w.ow
                              or out.shape[3] != C or out.shape[0] < n):
        raise ValueError("tiles: the output slots do not match the patch shape")
    if gf_pix_t is uint8_t:
        kxn = xki.shape[1]
        kyn = yki.shape[1]
    else:
        kxn = xkf.shape[1]
        kyn = ykf.shape[1]
    gf_conv_plan(plan, g.th, g.tw, C, w.oh, w.ow, &xb[0, 0], kxn, &yb[0, 0], kyn,
                 <int>geom[G_HPASS], <int>geom[G_VPASS], <int>geom[G_VFIRST])
    plan.xk_i = &xki[0, 0]
    plan.yk_i = &yki[0, 0]
    plan.xk_f = &xkf[0, 0]
    plan.yk_f = &ykf[0, 0]
    padrow = <gf_pix_t*> malloc(sizeof(gf_pix_t) * g.tw * C)
    if padrow == NULL:
        raise MemoryError("tiles: could not allocate the fill row")
    for i in range(g.tw):
        for c in range(C):
            padrow[i * C + c] = padval[c]
    return padrow


def patches(const gf_pix_t[:, :, ::1] band, const uint8_t[:, ::1] mask,
            const int64_t[::1] ys, const int64_t[::1] xs, int64_t[::1] counts,
            const int64_t[::1] geom, double thr_f, const int64_t[::1] release,
            const gf_pix_t[::1] padval, gf_pix_t[:, :, :, ::1] out,
            const int32_t[:, ::1] xb, const int32_t[:, ::1] xki, const double[:, ::1] xkf,
            const int32_t[:, ::1] yb, const int32_t[:, ::1] yki, const double[:, ::1] ykf,
            const int64_t[::1] xi, const int64_t[::1] yi,
            const int64_t[::1] xofs, const int32_t[::1] xsrc, const float[::1] xal,
            const int64_t[::1] yofs, const int32_t[::1] ysrc, const float[::1] yal,
            int n_threads):
    """Fused per tile: count (if geom[G_MEASURE]), keep iff the count reaches
    geom[G_MINCOUNT], then copy or resize the tile into out[j]."""
    cdef Py_ssize_t n = ys.shape[0], j
    cdef TileGeom g
    cdef Recipe w
    cdef GfConvPlan plan
    cdef Scratch* sc
    cdef const gf_pix_t* bp = &band[0, 0, 0]
    cdef const uint8_t* mp = &mask[0, 0]
    cdef gf_pix_t* op = &out[0, 0, 0, 0]
    cdef gf_pix_t* padrow
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef const int64_t* rel
    cdef int is_u8 = gf_pix_t is uint8_t
    cdef int is_double = gf_pix_t is double
    if release.shape[0] != 4:
        raise ValueError("tiles: release must hold two (address, length) pairs")
    rel = &release[0]
    padrow = _prepare(band, geom, thr_f, padval, out, n, xb, xki, xkf, yb, yki, ykf, xi, yi,
                      xofs, xsrc, xal, yofs, ysrc, yal, &g, &w, &plan)
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        if threadid() == 0:
            _drop_pages(rel)
        sc = _scratch_new(&w, &plan, &g, sizeof(gf_pix_t), is_u8, is_double)  # thread-private
        if sc == NULL:
            failed_flag[0] = 1
        else:
            for j in prange(n, schedule="dynamic"):
                _tile_work(bp, mp, &g, &w, &plan, j, ys[j], xs[j], &counts[0], padrow, op, sc)
        _scratch_free(sc)
    free(padrow)
    if failed:
        raise MemoryError("tiles: could not allocate a thread's work buffers")


def run_image(const gf_pix_t[:, :, ::1] image, const uint8_t[:, ::1] mask,
              const int64_t[::1] ys, const int64_t[::1] xs, int64_t[::1] counts,
              const int64_t[::1] geom, double thr_f, const int64_t[::1] band_end,
              const int64_t[:, ::1] band_release, int64_t[::1] band_left,
              const gf_pix_t[::1] padval, gf_pix_t[:, :, :, ::1] out,
              const int32_t[:, ::1] xb, const int32_t[:, ::1] xki, const double[:, ::1] xkf,
              const int32_t[:, ::1] yb, const int32_t[:, ::1] yki, const double[:, ::1] ykf,
              const int64_t[::1] xi, const int64_t[::1] yi,
              const int64_t[::1] xofs, const int32_t[::1] xsrc, const float[::1] xal,
              const int64_t[::1] yofs, const int32_t[::1] ysrc, const float[::1] yal,
              int n_threads):
    """The whole call in one parallel region (an optional capability of this
    engine): the listed tiles of the whole image, in order, with the work of
    :func:`patches` (``geom[G_RMODE] == R_NONE``: count only).  Tiles
    ``band_end[b-1]:band_end[b]`` form band ``b``; ``band_left[b]`` starts
    at its tile count, and the thread that finishes its last tile drops the
    page ranges ``band_release[b]`` (two (address, length) pairs).  Tiles
    are handed out in order, so only the few bands in flight are resident."""
    cdef Py_ssize_t n = ys.shape[0], nb = band_end.shape[0], j, b
    cdef TileGeom g
    cdef Recipe w
    cdef GfConvPlan plan
    cdef Scratch* sc
    cdef const gf_pix_t* bp = &image[0, 0, 0]
    cdef const uint8_t* mp = &mask[0, 0]
    cdef gf_pix_t* op = &out[0, 0, 0, 0]
    cdef gf_pix_t* padrow
    cdef int failed = 0
    cdef int* failed_flag = &failed
    cdef int is_u8 = gf_pix_t is uint8_t
    cdef int is_double = gf_pix_t is double
    cdef const int64_t* bend
    cdef int64_t* left
    if nb < 1 or band_release.shape[0] != nb or band_release.shape[1] != 4 \
            or band_left.shape[0] != nb or band_end[nb - 1] != n:
        raise ValueError("tiles: the band tables do not match the tiles")
    bend = &band_end[0]
    left = &band_left[0]
    padrow = _prepare(image, geom, thr_f, padval, out, n, xb, xki, xkf, yb, yki, ykf, xi, yi,
                      xofs, xsrc, xal, yofs, ysrc, yal, &g, &w, &plan)
    with nogil, parallel(num_threads=n_threads):
        gf_note_team()  # thread-count probe (_openmp.pxd)
        sc = _scratch_new(&w, &plan, &g, sizeof(gf_pix_t), is_u8, is_double)  # thread-private
        if sc == NULL:
            failed_flag[0] = 1
        # after a failed allocation the tiles are still visited (and counted
        # down) so that every band's pages are released; no work is done
        for j in prange(n, schedule="dynamic"):
            if not failed_flag[0]:
                _tile_work(bp, mp, &g, &w, &plan, j, ys[j], xs[j], &counts[0], padrow, op, sc)
            b = _band_of(bend, nb, j)
            if gf_fetch_sub(left + b) == 1:
                _drop_pages(&band_release[b, 0])
        _scratch_free(sc)
    free(padrow)
    if failed:
        raise MemoryError("tiles: could not allocate a thread's work buffers")


cdef inline Py_ssize_t _band_of(const int64_t* bend, Py_ssize_t nb, Py_ssize_t j) noexcept nogil:
    """The band holding tile j (binary search over the band ends)."""
    cdef Py_ssize_t lo = 0, hi = nb - 1, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if bend[mid] > j:
            hi = mid
        else:
            lo = mid + 1
    return lo
