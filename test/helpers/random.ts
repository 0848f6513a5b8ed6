import { mulberry32 } from '../../lib/data/random.ts';

/** A small seeded PRNG (mulberry32) for reproducible test data: returns floats in [0, 1). */
export const seededRandom = mulberry32;
