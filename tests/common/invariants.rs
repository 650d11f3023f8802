//! The invariants checker lives in the library
//! (`ctibridge::calls::invariants`), shared with the fuzz targets; this
//! re-export keeps the tests' `common::invariants::...` paths.
#![allow(unused_imports)]

pub use ctibridge::calls::invariants::*;
