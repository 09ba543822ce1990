package dev.ckptdiff.pickle;

/**
 * A domain's reading of calls and persistent ids (torch: tensors, storages, dtypes). It returns a
 * value, or null to leave the call as an inert {@link Py.Instance}. It must not run anything.
 */
public interface Reducer {
    Py reduce(Py.Global callable, Py.Tuple args, long offset);

    Py persistentLoad(Py id, long offset);

    Reducer NONE = new Reducer() {
        @Override
        public Py reduce(Py.Global callable, Py.Tuple args, long offset) {
            return null;
        }

        @Override
        public Py persistentLoad(Py id, long offset) {
            return new Py.PersistentId(id);
        }
    };
}
