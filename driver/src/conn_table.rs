//! A runtime's table of its connections, by the core's [`ConnId`]: the slot is the id's index,
//! and an entry answers only to the id with its generation, so a message about a connection
//! that closed never reaches the next one in the same slot.

use natrix_core::ConnId;

/// Entries of type `T` by connection.
#[derive(Debug)]
pub struct ConnTable<T> {
    slots: Vec<Option<(ConnId, T)>>,
}

impl<T> Default for ConnTable<T> {
    fn default() -> Self {
        ConnTable { slots: Vec::new() }
    }
}

impl<T> ConnTable<T> {
    /// Stores `value` for `id`, replacing whatever held the slot.
    pub fn insert(&mut self, id: ConnId, value: T) {
        let index = id.index as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some((id, value));
    }

    /// The entry of `id`, if it is still the one in its slot.
    pub fn get(&self, id: ConnId) -> Option<&T> {
        match self.slots.get(id.index as usize) {
            Some(Some((held, value))) if *held == id => Some(value),
            _ => None,
        }
    }

    /// The entry of `id`, mutably, if it is still the one in its slot.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        match self.slots.get_mut(id.index as usize) {
            Some(Some((held, value))) if *held == id => Some(value),
            _ => None,
        }
    }

    /// Removes and returns the entry of `id`, if it is still the one in its slot.
    pub fn remove(&mut self, id: ConnId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.as_ref().is_some_and(|(held, _)| *held == id) {
            slot.take().map(|(_, value)| value)
        } else {
            None
        }
    }

    /// Every entry, in slot order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut T)> {
        self.slots.iter_mut().flatten().map(|(id, value)| (*id, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_id() {
        let old = ConnId {
            index: 3,
            generation: 0,
        };
        let new = ConnId {
            index: 3,
            generation: 1,
        };
        let mut table = ConnTable::default();
        table.insert(old, "old");
        assert_eq!(table.get(old), Some(&"old"));
        table.insert(new, "new");
        assert_eq!(table.get(old), None);
        assert_eq!(table.remove(old), None);
        assert_eq!(table.get_mut(new), Some(&mut "new"));
        assert_eq!(table.remove(new), Some("new"));
        assert_eq!(table.get(new), None);
    }
}
