/* Student-proposing deferred acceptance over explicit rankings, in C.
 *
 * solve(student_ids, student_rankings, opening_ids, capacities, opening_rankings)
 *     -> ({student id: opening id or None}, entries examined) | None
 * deferred_acceptance(student_choices, ranked, capacities)
 *     -> ([opening index or -1 per student], entries examined) | None
 *
 * The accelerators behind wbl_matcher.engine.acceptance's solve_columns and
 * deferred_acceptance (the profile-mode rounds, on indices). They answer only
 * the common, well-formed case: exact str ids (or int indices in range), list or tuple
 * rankings, int capacities. Anything else (an unknown or duplicate id, an id ranked
 * twice, an unusual type)
 * returns None, and the Python solver, which defines the semantics and names what is
 * wrong, takes over. So this file never has to phrase an error, and the two can only
 * differ in speed; the tests hold them equal on random instances.
 *
 * How: ids go into open-addressing tables keyed by the strings' cached hashes; every
 * ranking becomes int32 arrays; each student's choice k gets the rank the opening gives
 * that student (found by walking each opening's ranking once against the students who
 * chose it); deferred acceptance then runs on ints, each opening holding a max-heap of
 * the ranks of the students it keeps, so its root is the seat it would give up next.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define UNRANKED INT32_MAX /* a student the opening does not rank */

/* ------------------------------------------------------------------ id tables */

typedef struct {
    PyObject *key; /* borrowed: the caller's lists keep the strings alive */
    Py_hash_t hash;
    int32_t value;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
} IdTable;

static int same_text(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    Py_ssize_t length = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    /* exact str objects are canonical (PEP 393): equal text has equal kind */
    return length == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)length * (size_t)kind) == 0;
}

static int table_init(IdTable *table, Py_ssize_t count) {
    size_t size = 8;
    while (size < (size_t)count * 2 + 1) size <<= 1;
    table->slots = PyMem_Calloc(size, sizeof(Slot));
    table->mask = size - 1;
    if (table->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The hash of an exact, ready str; -1 for anything else (the caller falls back). */
static Py_hash_t hash_of(PyObject *key) {
    if (!PyUnicode_CheckExact(key) || PyUnicode_READY(key) < 0) {
        PyErr_Clear();
        return -1;
    }
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) PyErr_Clear();
    return hash;
}

/* 0 inserted; 1 not insertable (a duplicate, or not an exact str). */
static int table_insert(IdTable *table, PyObject *key, int32_t value) {
    Py_hash_t hash = hash_of(key);
    if (hash == -1) return 1;
    size_t i = (size_t)hash & table->mask;
    while (table->slots[i].key != NULL) {
        if (table->slots[i].hash == hash && same_text(table->slots[i].key, key)) return 1;
        i = (i + 1) & table->mask;
    }
    table->slots[i] = (Slot){key, hash, value};
    return 0;
}

/* The value of key, or -1 when it is absent or not an exact str. */
static int32_t table_find(const IdTable *table, PyObject *key) {
    Py_hash_t hash = hash_of(key);
    if (hash == -1) return -1;
    size_t i = (size_t)hash & table->mask;
    while (table->slots[i].key != NULL) {
        if (table->slots[i].hash == hash && same_text(table->slots[i].key, key))
            return table->slots[i].value;
        i = (i + 1) & table->mask;
    }
    return -1;
}

/* How a ranking entry becomes an index: through an id table (strings), or as an int
 * checked against a range (the profile-mode rounds, which index students themselves). */
typedef struct {
    const IdTable *table; /* NULL: entries are ints in [0, count) */
    Py_ssize_t count;
} Resolver;

/* The index of a ranking entry, or -1 when it is unknown or of another type. */
static int32_t resolve(const Resolver *resolver, PyObject *entry) {
    if (resolver->table != NULL) return table_find(resolver->table, entry);
    if (!PyLong_CheckExact(entry)) return -1;
    int overflow;
    long long index = PyLong_AsLongLongAndOverflow(entry, &overflow);
    return overflow || index < 0 || index >= resolver->count ? -1 : (int32_t)index;
}

/* ------------------------------------------------------------------ the instance */

typedef struct {
    Py_ssize_t students, openings;
    Py_ssize_t *choice_start; /* per student, into choice/rank_at; students + 1 entries */
    int32_t *choice;          /* opening index of each student's choice, most wanted first */
    int32_t *rank_at;         /* the rank that opening gives the student, or UNRANKED */
    int32_t *seats;           /* per opening: capacity, at most the length of its ranking */
} Instance;

static void instance_free(Instance *in) {
    PyMem_Free(in->choice_start);
    PyMem_Free(in->choice);
    PyMem_Free(in->rank_at);
    PyMem_Free(in->seats);
}

/* A list or tuple's items and length; 0 for any other type. (An empty list's item
 * pointer is NULL, hence the separate result.) */
static int items_of(PyObject *sequence, PyObject ***items, Py_ssize_t *length) {
    if (PyList_CheckExact(sequence)) {
        *length = PyList_GET_SIZE(sequence);
        *items = ((PyListObject *)sequence)->ob_item;
        return 1;
    }
    if (PyTuple_CheckExact(sequence)) {
        *length = PyTuple_GET_SIZE(sequence);
        *items = ((PyTupleObject *)sequence)->ob_item;
        return 1;
    }
    return 0;
}

/* Student choices as opening indices; 1 on an unknown or repeated opening. */
static int read_choices(Instance *in, PyObject *rankings, const Resolver *openings,
                        int32_t *chosen_by_count) {
    Py_ssize_t total = 0, length;
    PyObject **items;
    for (Py_ssize_t s = 0; s < in->students; s++) {
        if (!items_of(PyList_GET_ITEM(rankings, s), &items, &length)) return 1;
        in->choice_start[s] = total;
        total += length;
    }
    in->choice_start[in->students] = total;
    in->choice = PyMem_Malloc(sizeof(int32_t) * (size_t)(total ? total : 1));
    in->rank_at = PyMem_Malloc(sizeof(int32_t) * (size_t)(total ? total : 1));
    int32_t *last_chooser = PyMem_Malloc(sizeof(int32_t) * (size_t)(in->openings ? in->openings : 1));
    if (in->choice == NULL || in->rank_at == NULL || last_chooser == NULL) {
        PyMem_Free(last_chooser);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t o = 0; o < in->openings; o++) last_chooser[o] = -1;
    for (Py_ssize_t s = 0; s < in->students; s++) {
        items_of(PyList_GET_ITEM(rankings, s), &items, &length);
        int32_t *out = in->choice + in->choice_start[s];
        for (Py_ssize_t k = 0; k < length; k++) {
            int32_t o = resolve(openings, items[k]);
            if (o < 0 || last_chooser[o] == (int32_t)s) {
                PyMem_Free(last_chooser);
                return 1;
            }
            last_chooser[o] = (int32_t)s;
            chosen_by_count[o]++;
            out[k] = o;
        }
    }
    PyMem_Free(last_chooser);
    return 0;
}

/* rank_at for every choice and each opening's usable seats; 1 on a bad ranking.
 * Walks each opening's ranking once, then the choices that name that opening. */
static int read_rankings(Instance *in, PyObject *rankings, PyObject *capacities,
                         const Resolver *students, const int32_t *chosen_by_count) {
    Py_ssize_t n_s = in->students, n_o = in->openings;
    Py_ssize_t *chooser_start = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_o + 1));
    Py_ssize_t *choosers = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(in->choice_start[n_s] + 1));
    int32_t *ranked_by = PyMem_Malloc(sizeof(int32_t) * (size_t)(n_s ? n_s : 1));
    int32_t *rank = PyMem_Malloc(sizeof(int32_t) * (size_t)(n_s ? n_s : 1));
    int result = -1;
    if (chooser_start == NULL || choosers == NULL || ranked_by == NULL || rank == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* choosers of opening o: positions (into choice) chooser_start[o] .. [o + 1] */
    chooser_start[0] = 0;
    for (Py_ssize_t o = 0; o < n_o; o++) chooser_start[o + 1] = chooser_start[o] + chosen_by_count[o];
    {
        Py_ssize_t *next = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_o ? n_o : 1));
        if (next == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(next, chooser_start, sizeof(Py_ssize_t) * (size_t)n_o);
        for (Py_ssize_t p = 0; p < in->choice_start[n_s]; p++) choosers[next[in->choice[p]]++] = p;
        PyMem_Free(next);
    }
    for (Py_ssize_t s = 0; s < n_s; s++) ranked_by[s] = -1;
    for (Py_ssize_t o = 0; o < n_o; o++) {
        Py_ssize_t length;
        PyObject **items;
        if (!items_of(PyList_GET_ITEM(rankings, o), &items, &length) || length >= UNRANKED) {
            result = 1;
            goto done;
        }
        for (Py_ssize_t r = 0; r < length; r++) {
            int32_t s = resolve(students, items[r]);
            if (s < 0 || ranked_by[s] == (int32_t)o) {
                result = 1;
                goto done;
            }
            ranked_by[s] = (int32_t)o;
            rank[s] = (int32_t)r;
        }
        for (Py_ssize_t c = chooser_start[o]; c < chooser_start[o + 1]; c++) {
            Py_ssize_t p = choosers[c];
            int32_t s = in->rank_at[p]; /* holds the chooser, set by read_instance() */
            in->rank_at[p] = ranked_by[s] == (int32_t)o ? rank[s] : UNRANKED;
        }
        PyObject *capacity = PyList_GET_ITEM(capacities, o);
        if (!PyLong_CheckExact(capacity)) {
            result = 1;
            goto done;
        }
        int overflow;
        long long seats = PyLong_AsLongLongAndOverflow(capacity, &overflow);
        if (overflow > 0 || seats > (long long)length) seats = (long long)length;
        if (overflow < 0 || seats < 0) {
            result = 1;
            goto done;
        }
        in->seats[o] = (int32_t)seats;
    }
    result = 0;
done:
    PyMem_Free(chooser_start);
    PyMem_Free(choosers);
    PyMem_Free(ranked_by);
    PyMem_Free(rank);
    return result;
}

/* Reads both sides' rankings and the capacities (lists, one entry per student or
 * opening, sizes already checked) into `in`: -1 error, 0 read, 1 let Python decide. */
static int read_instance(Instance *in, PyObject *student_rankings, PyObject *opening_rankings,
                         PyObject *capacities, const Resolver *students,
                         const Resolver *openings) {
    in->choice_start = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(in->students + 1));
    in->seats = PyMem_Malloc(sizeof(int32_t) * (size_t)(in->openings ? in->openings : 1));
    int32_t *chosen_by_count = PyMem_Calloc((size_t)(in->openings ? in->openings : 1), sizeof(int32_t));
    int status = -1;
    if (!in->choice_start || !in->seats || !chosen_by_count) {
        PyErr_NoMemory();
        goto done;
    }
    if ((status = read_choices(in, student_rankings, openings, chosen_by_count)) != 0) goto done;
    /* rank_at briefly holds each choice's student, for read_rankings to look up */
    for (Py_ssize_t s = 0; s < in->students; s++)
        for (Py_ssize_t p = in->choice_start[s]; p < in->choice_start[s + 1]; p++)
            in->rank_at[p] = (int32_t)s;
    status = read_rankings(in, opening_rankings, capacities, students, chosen_by_count);
done:
    PyMem_Free(chosen_by_count);
    return status;
}

/* ------------------------------------------------------------------ deferred acceptance */

typedef struct {
    int32_t rank, student;
} Seat;

static void sift_down(Seat *heap, int32_t size) {
    int32_t i = 0;
    Seat moving = heap[0];
    for (;;) {
        int32_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && heap[child + 1].rank > heap[child].rank) child++;
        if (heap[child].rank <= moving.rank) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = moving;
}

static void sift_up(Seat *heap, int32_t i) {
    Seat moving = heap[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (heap[parent].rank >= moving.rank) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = moving;
}

/* The opening index (or -1) of each student, to be freed by the caller, and in
 * *examined the ranking entries looked at; NULL with MemoryError set if out of memory. */
static int32_t *defer(const Instance *in, Py_ssize_t *examined) {
    Py_ssize_t n_s = in->students, n_o = in->openings;
    int32_t *assigned = PyMem_Malloc(sizeof(int32_t) * (size_t)(n_s ? n_s : 1));
    Py_ssize_t *heap_start = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_o + 1));
    int32_t *held = PyMem_Calloc((size_t)(n_o ? n_o : 1), sizeof(int32_t));
    int32_t *free_students = PyMem_Malloc(sizeof(int32_t) * (size_t)(n_s ? n_s : 1));
    Py_ssize_t *next = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_s ? n_s : 1));
    Seat *seats = NULL;
    if (assigned && heap_start && held && free_students && next) {
        heap_start[0] = 0;
        for (Py_ssize_t o = 0; o < n_o; o++) heap_start[o + 1] = heap_start[o] + in->seats[o];
        seats = PyMem_Malloc(sizeof(Seat) * (size_t)(heap_start[n_o] ? heap_start[n_o] : 1));
    }
    if (seats == NULL) {
        PyMem_Free(assigned);
        PyMem_Free(heap_start);
        PyMem_Free(held);
        PyMem_Free(free_students);
        PyMem_Free(next);
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t free_count = 0;
    for (Py_ssize_t s = n_s - 1; s >= 0; s--) {
        free_students[free_count++] = (int32_t)s;
        next[s] = in->choice_start[s];
    }
    while (free_count > 0) {
        int32_t s = free_students[--free_count];
        Py_ssize_t p = next[s], end = in->choice_start[s + 1];
        while (p < end) {
            int32_t o = in->choice[p], rank = in->rank_at[p];
            p++;
            if (rank == UNRANKED) continue;
            Seat *heap = seats + heap_start[o];
            if (held[o] < in->seats[o]) { /* a free seat */
                heap[held[o]] = (Seat){rank, s};
                sift_up(heap, held[o]++);
                break;
            }
            if (held[o] > 0 && heap[0].rank > rank) { /* prefers s to the worst it holds */
                free_students[free_count++] = heap[0].student;
                heap[0] = (Seat){rank, s};
                sift_down(heap, held[o]);
                break;
            }
        }
        next[s] = p;
    }
    *examined = 0;
    for (Py_ssize_t s = 0; s < n_s; s++) {
        assigned[s] = -1;
        *examined += next[s] - in->choice_start[s];
    }
    for (Py_ssize_t o = 0; o < n_o; o++)
        for (int32_t h = 0; h < held[o]; h++) assigned[seats[heap_start[o] + h].student] = (int32_t)o;
    PyMem_Free(heap_start);
    PyMem_Free(held);
    PyMem_Free(free_students);
    PyMem_Free(next);
    PyMem_Free(seats);
    return assigned;
}

/* ------------------------------------------------------------------ solve() */

static PyObject *assignments_of(PyObject *student_ids, PyObject *opening_ids,
                                const int32_t *assigned, Py_ssize_t n_s) {
    PyObject *result = PyDict_New();
    if (result == NULL) return NULL;
    for (Py_ssize_t s = 0; s < n_s; s++) {
        PyObject *opening = assigned[s] < 0 ? Py_None : PyList_GET_ITEM(opening_ids, assigned[s]);
        if (PyDict_SetItem(result, PyList_GET_ITEM(student_ids, s), opening) < 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

static PyObject *solve(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "solve(student_ids, student_rankings, opening_ids, capacities, "
                        "opening_rankings) takes 5 lists");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < 5; i++)
        if (!PyList_CheckExact(args[i])) Py_RETURN_NONE;
    PyObject *student_ids = args[0], *student_rankings = args[1], *opening_ids = args[2],
             *capacities = args[3], *opening_rankings = args[4];
    Instance in = {PyList_GET_SIZE(student_ids), PyList_GET_SIZE(opening_ids), NULL, NULL, NULL, NULL};
    if (PyList_GET_SIZE(student_rankings) != in.students ||
        PyList_GET_SIZE(opening_rankings) != in.openings ||
        PyList_GET_SIZE(capacities) != in.openings || in.students >= INT32_MAX ||
        in.openings >= INT32_MAX)
        Py_RETURN_NONE;

    IdTable students = {NULL, 0}, openings = {NULL, 0};
    int32_t *assigned = NULL;
    PyObject *result = NULL;
    int status = -1; /* -1 error, 0 ok, 1 let Python decide */
    if (table_init(&students, in.students) < 0 || table_init(&openings, in.openings) < 0) goto done;
    status = 1;
    for (Py_ssize_t s = 0; s < in.students; s++)
        if (table_insert(&students, PyList_GET_ITEM(student_ids, s), (int32_t)s)) goto done;
    for (Py_ssize_t o = 0; o < in.openings; o++)
        if (table_insert(&openings, PyList_GET_ITEM(opening_ids, o), (int32_t)o)) goto done;

    Resolver by_student = {&students, in.students}, by_opening = {&openings, in.openings};
    status = read_instance(&in, student_rankings, opening_rankings, capacities, &by_student,
                           &by_opening);
    if (status != 0) goto done;
    status = -1;
    Py_ssize_t examined;
    if ((assigned = defer(&in, &examined)) == NULL) goto done;
    PyObject *assignments = assignments_of(student_ids, opening_ids, assigned, in.students);
    if (assignments == NULL) goto done;
    result = Py_BuildValue("(Nn)", assignments, examined);
    status = result == NULL ? -1 : 0;
done:
    PyMem_Free(students.slots);
    PyMem_Free(openings.slots);
    PyMem_Free(assigned);
    instance_free(&in);
    if (status == 1) Py_RETURN_NONE;
    return result;
}

/* ------------------------------------------------------------------ deferred_acceptance() */

static PyObject *index_list(const int32_t *assigned, Py_ssize_t n_s) {
    PyObject *result = PyList_New(n_s);
    if (result == NULL) return NULL;
    for (Py_ssize_t s = 0; s < n_s; s++) {
        PyObject *index = PyLong_FromLong(assigned[s]);
        if (index == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, s, index);
    }
    return result;
}

static PyObject *deferred_acceptance(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "deferred_acceptance(student_choices, ranked, capacities) takes 3 lists");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < 3; i++)
        if (!PyList_CheckExact(args[i])) Py_RETURN_NONE;
    PyObject *choices = args[0], *ranked = args[1], *capacities = args[2];
    Instance in = {PyList_GET_SIZE(choices), PyList_GET_SIZE(ranked), NULL, NULL, NULL, NULL};
    if (PyList_GET_SIZE(capacities) != in.openings || in.students >= INT32_MAX ||
        in.openings >= INT32_MAX)
        Py_RETURN_NONE;
    Resolver by_student = {NULL, in.students}, by_opening = {NULL, in.openings};
    int32_t *assigned = NULL;
    PyObject *result = NULL;
    int status = read_instance(&in, choices, ranked, capacities, &by_student, &by_opening);
    if (status != 0) goto done;
    status = -1;
    Py_ssize_t examined;
    if ((assigned = defer(&in, &examined)) == NULL) goto done;
    PyObject *assignment = index_list(assigned, in.students);
    if (assignment == NULL) goto done;
    result = Py_BuildValue("(Nn)", assignment, examined);
    status = result == NULL ? -1 : 0;
done:
    PyMem_Free(assigned);
    instance_free(&in);
    if (status == 1) Py_RETURN_NONE;
    return result;
}

static PyMethodDef methods[] = {
    {"solve", (PyCFunction)(void (*)(void))solve, METH_FASTCALL,
     "solve(student_ids, student_rankings, opening_ids, capacities, opening_rankings)\n--\n\n"
     "Student-optimal stable assignment: ({student id: opening id or None}, entries "
     "examined),\nor None when the input is not the plain well-formed case (the caller's "
     "Python\nsolver then decides, and names what is wrong)."},
    {"deferred_acceptance", (PyCFunction)(void (*)(void))deferred_acceptance, METH_FASTCALL,
     "deferred_acceptance(student_choices, ranked, capacities)\n--\n\n"
     "The same on integer indices: student_choices[s] lists opening indices, most wanted\n"
     "first; ranked[o] lists student indices, most preferred first. Returns (opening\n"
     "index or -1 per student, entries examined), or None for anything else."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wbl_match_core._core",
    .m_doc = "Deferred acceptance in C (see wbl_matcher.engine.acceptance).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&module); }
